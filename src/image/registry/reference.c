/* SPDX-License-Identifier: Apache-2.0 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "image/registry/reference.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define MAX_REFERENCE 4096

/* enroot's character classes, matched with POSIX EREs as bash's =~ does, so
 * ambiguous references resolve the same way. */
#define RE_USER "([[:alnum:]_.!~*'()%;:&=+$,-@]+@)?"
#define RE_IMAGE "([a-z0-9/._-]+)"
#define RE_TAG "([[:alnum:]._:-]+)"
#define RE_DIGEST "(sha256:[[:alnum:]]+)"

enum ref_form { FORM_HOSTED, FORM_LIBRARY, FORM_ENROOT };

static const struct {
	const char *re;
	enum ref_form form;
	int tag, digest; /* submatch indexes, 0 = none */
} patterns[] = {
	{"^docker://" RE_USER "([^/#]+)/" RE_IMAGE ":" RE_TAG "@" RE_DIGEST "$", FORM_HOSTED, 4, 5},
	{"^docker://" RE_USER "([^/#]+)/" RE_IMAGE "@" RE_DIGEST "$", FORM_HOSTED, 0, 4},
	{"^docker://" RE_USER "([^/#]+)/" RE_IMAGE "(:" RE_TAG ")?$", FORM_HOSTED, 5, 0},
	{"^docker://" RE_USER "([^/@#:]+):" RE_TAG "@" RE_DIGEST "$", FORM_LIBRARY, 3, 4},
	{"^docker://" RE_USER "([^/@#:]+)@" RE_DIGEST "$", FORM_LIBRARY, 0, 3},
	{"^docker://" RE_USER "([^/@#:]+)(:" RE_TAG ")?$", FORM_LIBRARY, 4, 0},
	{"^docker://" RE_USER "([^#/@]+)#" RE_IMAGE ":" RE_TAG "@" RE_DIGEST "$", FORM_ENROOT, 4, 5},
	{"^docker://" RE_USER "([^#/@]+)#" RE_IMAGE "@" RE_DIGEST "$", FORM_ENROOT, 0, 4},
	{"^docker://" RE_USER "([^#/@]+)#" RE_IMAGE "(:" RE_TAG ")?$", FORM_ENROOT, 5, 0},
};

static char *group(const char *s, const regmatch_t *m, int i)
{
	if (i <= 0 || m[i].rm_so < 0)
		return NULL;
	return xstrndup(s + m[i].rm_so, (size_t)(m[i].rm_eo - m[i].rm_so));
}

static bool is_docker_hub(const char *registry)
{
	return !strcmp(registry, "docker.io") || !strcmp(registry, "index.docker.io") ||
	       !strcmp(registry, DOCKER_HUB);
}

static void fill(const char *uri, const regmatch_t *m, enum ref_form form, int tag, int digest,
		 struct image_ref *r)
{
	_cleanup_free_ char *first = group(uri, m, 2);
	_cleanup_free_ char *user = group(uri, m, 1);

	if (user)
		user[strlen(user) - 1] = '\0'; /* the '@' */
	r->user = TAKE_PTR(user);
	if (form == FORM_LIBRARY) {
		r->registry = xstrdup(DOCKER_HUB);
		r->image = xasprintf("library/%s", first);
	} else if (form == FORM_HOSTED && !strpbrk(first, ".:")) {
		/* "foo/bar": foo is a Docker Hub namespace, not a registry. */
		_cleanup_free_ char *rest = group(uri, m, 3);

		r->registry = xstrdup(DOCKER_HUB);
		r->image = xasprintf("%s/%s", first, rest);
	} else {
		r->registry = is_docker_hub(first) ? xstrdup(DOCKER_HUB) : xstrdup(first);
		r->image = group(uri, m, 3);
	}
	if (is_docker_hub(r->registry) && !strchr(r->image, '/')) {
		char *img = xasprintf("library/%s", r->image);
		free(r->image);
		r->image = img;
	}
	r->digest = group(uri, m, digest);
	r->tag = r->digest ? NULL : group(uri, m, tag);
	if (r->digest == NULL && (r->tag == NULL || *r->tag == '\0')) {
		free(r->tag);
		r->tag = xstrdup("latest");
	}
}

int image_ref_parse(const char *uri, struct image_ref *ret, struct error *err)
{
	memset(ret, 0, sizeof(*ret));
	if (strlen(uri) > MAX_REFERENCE)
		return error_set(err, 0, "invalid image reference: too long");
	/* enroot's library form admits any byte; blanks and controls would only
	 * produce a broken URL later, so they are refused here. */
	for (const unsigned char *p = (const unsigned char *)uri; *p; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return error_set(err, 0, "invalid image reference: %s (it contains blanks or control characters)",
					 uri);
	}
	for (size_t i = 0; i < ARRAY_SIZE(patterns); i++) {
		regex_t re;
		regmatch_t m[8];
		int r;

		if (regcomp(&re, patterns[i].re, REG_EXTENDED) != 0)
			return error_set(err, 0, "internal error: bad reference pattern %zu", i);
		r = regexec(&re, uri, ARRAY_SIZE(m), m, 0);
		regfree(&re);
		if (r != 0)
			continue;
		fill(uri, m, patterns[i].form, patterns[i].tag, patterns[i].digest, ret);
		return 0;
	}
	return error_set(err, 0, "invalid image reference: %s (expected docker://[USER@][REGISTRY#]IMAGE[:TAG|@DIGEST])",
			 uri);
}

void image_ref_done(struct image_ref *r)
{
	free(r->user);
	free(r->registry);
	free(r->image);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

const char *image_ref_reference(const struct image_ref *r)
{
	return r->digest ? r->digest : r->tag;
}

char *image_ref_default_name(const struct image_ref *r, bool with_sqsh)
{
	const char *img = r->image;
	char *name;

	if (is_docker_hub(r->registry) && !strncmp(img, "library/", 8))
		img += 8;
	name = xasprintf("%s+%s%s", img, image_ref_reference(r), with_sqsh ? ".sqsh" : "");
	for (char *p = name; *p; p++) {
		if (*p == '/')
			*p = '+';
	}
	return name;
}

char *image_ref_canonical(const struct image_ref *r)
{
	return xasprintf("docker://%s#%s%s%s", r->registry, r->image, r->digest ? "@" : ":", image_ref_reference(r));
}

const char *image_arch_normalize(const char *arch, const char **ret_variant)
{
	static const struct {
		const char *in, *out, *variant;
	} map[] = {
		{"x86_64", "amd64", NULL},  {"amd64", "amd64", NULL},	  {"aarch64", "arm64", "v8"},
		{"arm64", "arm64", "v8"},   {"ppc64le", "ppc64le", NULL}, {"s390x", "s390x", NULL},
	};

	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		if (!strcmp(arch, map[i].in)) {
			if (ret_variant)
				*ret_variant = map[i].variant;
			return map[i].out;
		}
	}
	return NULL;
}
