/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpu/request.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

static const struct {
	const char *name;
	unsigned bit;
} cap_words[] = {
	{"compute", GPU_CAP_COMPUTE}, {"compat32", GPU_CAP_COMPAT32}, {"graphics", GPU_CAP_GRAPHICS},
	{"utility", GPU_CAP_UTILITY}, {"video", GPU_CAP_VIDEO},	      {"display", GPU_CAP_DISPLAY},
	{"ngx", GPU_CAP_NGX},
};

static const char *env_last(char *const *env, const char *name)
{
	size_t n = strlen(name);
	const char *val = NULL;

	for (; env && *env; env++) {
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			val = *env + n + 1;
	}
	return val;
}

const char *gpu_env_get(char *const *first, char *const *second, const char *name)
{
	const char *v = env_last(first, name);

	return v ? v : env_last(second, name);
}

/* Comma-separated items, whitespace trimmed, empty items skipped. */
static void split_list(const char *s, struct strv *ret)
{
	while (*s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *a = s, *b = s + len;

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a)
			strv_push_take(ret, xstrndup(a, (size_t)(b - a)));
		s += len + (end ? 1 : 0);
	}
}

static bool has_word(const struct strv *v, const char *word)
{
	for (size_t i = 0; i < v->n; i++) {
		if (!strcasecmp(v->v[i], word))
			return true;
	}
	return false;
}

/* void > none > all > explicit ids, whatever their order in the list. */
static int parse_devices(const char *val, struct gpu_request *r, struct error *err)
{
	struct strv items = STRV_INIT;

	split_list(val, &items);
	r->active = items.n > 0 && !has_word(&items, "void");
	r->all = r->active && !has_word(&items, "none") && has_word(&items, "all");
	for (size_t i = 0; r->active && !r->all && !has_word(&items, "none") && i < items.n; i++) {
		if (r->ids.n >= GPU_MAX_IDS) {
			strv_free(&items);
			return error_set(err, 0, "NVIDIA_VISIBLE_DEVICES: more than %d devices", GPU_MAX_IDS);
		}
		if (!has_word(&r->ids, items.v[i]))
			strv_push(&r->ids, items.v[i]);
	}
	strv_free(&items);
	return 0;
}

static int parse_caps(const char *val, unsigned *ret, struct error *err)
{
	struct strv items = STRV_INIT;
	unsigned caps = 0;
	int r = 0;

	split_list(val, &items);
	for (size_t i = 0; i < items.n && r == 0; i++) {
		size_t k = 0;

		if (!strcmp(items.v[i], "all")) {
			caps |= GPU_CAP_ALL;
			continue;
		}
		while (k < ARRAY_SIZE(cap_words) && strcmp(items.v[i], cap_words[k].name))
			k++;
		if (k == ARRAY_SIZE(cap_words))
			r = error_set(err, 0,
				      "NVIDIA_DRIVER_CAPABILITIES: unsupported capability '%s' (valid: compute, "
				      "compat32, graphics, utility, video, display, ngx, all)",
				      items.v[i]);
		else
			caps |= cap_words[k].bit;
	}
	strv_free(&items);
	*ret = caps ? caps : GPU_CAP_UTILITY | GPU_CAP_COMPUTE;
	return r;
}

/* Go's strconv.ParseBool truths; anything else (even "yes") keeps them on. */
static bool go_true(const char *v)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};

	for (size_t i = 0; v && i < ARRAY_SIZE(t); i++) {
		if (!strcmp(v, t[i]))
			return true;
	}
	return false;
}

static void add_requires(char *const *env, struct gpu_request *r)
{
	for (; env && *env; env++) {
		const char *eq = strchr(*env, '=');
		_cleanup_free_ char *name = NULL;

		if (strncmp(*env, "NVIDIA_REQUIRE_", STRLEN("NVIDIA_REQUIRE_")) || !eq || !eq[1])
			continue;
		name = xstrndup(*env, (size_t)(eq - *env));
		/* The toolkit ignores the Jetson pseudo-requirement. */
		if (!strcmp(name, "NVIDIA_REQUIRE_JETPACK") || r->requires.n >= GPU_MAX_REQUIRES)
			continue;
		strv_push(&r->requires, eq + 1);
	}
}

/* CUDA_VERSION "11.0.3" of an old image becomes "cuda>=11.0". */
static int legacy_require(const char *cuda, struct gpu_request *r, struct error *err)
{
	unsigned major, minor;
	int n = 0;

	if (sscanf(cuda, "%u.%u%n", &major, &minor, &n) != 2 || (cuda[n] != '\0' && cuda[n] != '.'))
		return error_set(err, 0, "invalid CUDA_VERSION '%s' (expected MAJOR.MINOR[.PATCH])", cuda);
	strv_pushf(&r->requires, "cuda>=%u.%u", major, minor);
	return 0;
}

/* Only "all" (the toolkit's "only 'all' devices are currently supported"):
 * anything else is refused rather than ignored, the container would lack
 * what it asked for. */
static int parse_mig_access(char *const *host_env, char *const *image_env, struct gpu_request *r,
			    struct error *err)
{
	static const char *const names[] = {"NVIDIA_MIG_CONFIG_DEVICES", "NVIDIA_MIG_MONITOR_DEVICES"};
	bool *flags[] = {&r->mig_config, &r->mig_monitor};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const char *v = gpu_env_get(host_env, image_env, names[i]);

		if (v == NULL || *v == '\0')
			continue;
		if (strcasecmp(v, "all"))
			return error_set(err, 0, "%s='%s': only 'all' is supported", names[i], v);
		*flags[i] = true;
	}
	return 0;
}

/* NVIDIA_IMEX_CHANNELS: "all" or channel numbers, as the toolkit. */
static int parse_imex(const char *val, struct gpu_request *r, struct error *err)
{
	struct strv items = STRV_INIT;
	int ret = 0;

	split_list(val ? val : "", &items);
	r->imex_all = has_word(&items, "all");
	for (size_t i = 0; !r->imex_all && ret == 0 && i < items.n; i++) {
		const char *s = items.v[i];
		char *end;
		unsigned long n = strtoul(s, &end, 10);

		if (!isdigit((unsigned char)*s) || *end || n > GPU_MAX_IMEX_CHANNEL || strlen(s) > 5)
			ret = error_set(err, 0, "NVIDIA_IMEX_CHANNELS: '%s' is not a channel number (0-%d) or 'all'",
					s, GPU_MAX_IMEX_CHANNEL);
		else if (r->imex.n >= GPU_MAX_IDS)
			ret = error_set(err, 0, "NVIDIA_IMEX_CHANNELS: more than %d channels", GPU_MAX_IDS);
		else if (!has_word(&r->imex, s))
			strv_pushf(&r->imex, "%lu", n);
	}
	strv_free(&items);
	return ret;
}

static int parse_rest(char *const *host_env, char *const *image_env, bool legacy, struct gpu_request *r,
		      struct error *err)
{
	const char *caps = gpu_env_get(host_env, image_env, "NVIDIA_DRIVER_CAPABILITIES");

	if (parse_mig_access(host_env, image_env, r, err) < 0 ||
	    parse_imex(gpu_env_get(host_env, image_env, "NVIDIA_IMEX_CHANNELS"), r, err) < 0)
		return -1;
	if (legacy && (caps == NULL || *caps == '\0'))
		r->caps = GPU_CAP_ALL;
	else if (parse_caps(caps ? caps : "", &r->caps, err) < 0)
		return -1;
	r->disable_require = go_true(gpu_env_get(host_env, image_env, "NVIDIA_DISABLE_REQUIRE"));
	/* Every name counts once: the host's value replaces the image's. */
	add_requires(host_env, r);
	for (char *const *e = image_env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		_cleanup_free_ char *name = eq ? xstrndup(*e, (size_t)(eq - *e)) : NULL;

		if (name && !strncmp(name, "NVIDIA_REQUIRE_", STRLEN("NVIDIA_REQUIRE_")) &&
		    !env_last(host_env, name) && env_last(image_env, name) == eq + 1) {
			char *one[] = {*e, NULL};
			add_requires(one, r);
		}
	}
	if (legacy)
		return legacy_require(gpu_env_get(host_env, image_env, "CUDA_VERSION"), r, err);
	return 0;
}

bool gpu_requested(char *const *host_env, char *const *image_env)
{
	const char *dev = gpu_env_get(host_env, image_env, "NVIDIA_VISIBLE_DEVICES");

	return dev != NULL && *dev != '\0';
}

int gpu_request_parse(char *const *host_env, char *const *image_env, struct gpu_request *ret, struct error *err)
{
	struct gpu_request r = {false, false, STRV_INIT, 0, STRV_INIT, false, false, false, STRV_INIT, false};
	const char *dev = gpu_env_get(host_env, image_env, "NVIDIA_VISIBLE_DEVICES");
	const char *cuda = gpu_env_get(host_env, image_env, "CUDA_VERSION");
	const char *req_cuda = gpu_env_get(host_env, image_env, "NVIDIA_REQUIRE_CUDA");
	bool legacy = cuda && *cuda && (req_cuda == NULL || *req_cuda == '\0');

	/* An old CUDA image without the variable still wants every GPU. */
	if (parse_devices(dev ? dev : legacy ? "all" : "", &r, err) < 0 ||
	    (r.active && parse_rest(host_env, image_env, legacy, &r, err) < 0)) {
		gpu_request_done(&r);
		return -1;
	}
	*ret = r;
	return 0;
}

void gpu_request_done(struct gpu_request *r)
{
	strv_free(&r->ids);
	strv_free(&r->requires);
	strv_free(&r->imex);
}

const char *gpu_caps_str(unsigned caps, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(cap_words); i++) {
		int n;

		if (!(caps & cap_words[i].bit))
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? "," : "", cap_words[i].name);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	return buf;
}
