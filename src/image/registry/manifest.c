/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/registry/manifest.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define JSON_MAX_DEPTH 16

static const struct {
	const char *type;
	enum layer_compression compression;
	bool foreign;
} layer_types[] = {
	{"application/vnd.oci.image.layer.v1.tar", LAYER_TAR, false},
	{"application/vnd.oci.image.layer.v1.tar+gzip", LAYER_GZIP, false},
	{"application/vnd.oci.image.layer.v1.tar+zstd", LAYER_ZSTD, false},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar", LAYER_TAR, true},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LAYER_GZIP, true},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", LAYER_ZSTD, true},
	{"application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_GZIP, false},
	{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", LAYER_GZIP, true},
	{"application/vnd.docker.image.rootfs.diff.tar", LAYER_TAR, false},
};

static const char *const config_types[] = {
	"application/vnd.oci.image.config.v1+json",
	"application/vnd.docker.container.image.v1+json",
};

bool digest_valid(const char *s)
{
	if (s == NULL || strncmp(s, "sha256:", 7) != 0)
		return false;
	s += 7;
	for (int i = 0; i < 64; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[64] == '\0';
}

/* Parse exactly len bytes; trailing garbage or a depth bomb is an error. */
static json_object *parse_json(const char *body, size_t len, const char *what, struct error *err)
{
	struct json_tokener *tok;
	json_object *obj;

	if (len > CONFIG_MAX_BYTES) {
		error_set(err, 0, "%s is too large (%zu bytes)", what, len);
		return NULL;
	}
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (tok == NULL)
		abort();
	obj = json_tokener_parse_ex(tok, body, (int)len);
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(obj, json_type_object)) {
		error_set(err, 0, "%s is not a valid JSON object", what);
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

static const char *jstr(json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool is_schema1(const char *mt)
{
	return !strcmp(mt, "application/vnd.docker.distribution.manifest.v1+json") ||
	       !strcmp(mt, "application/vnd.docker.distribution.manifest.v1+prettyjws");
}

static int kind_of_type(const char *mt, enum manifest_kind *ret)
{
	if (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST))
		*ret = MANIFEST_KIND_INDEX;
	else if (!strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST))
		*ret = MANIFEST_KIND_IMAGE;
	else
		return -1;
	return 0;
}

/* "application/json; charset=utf-8" -> "application/json" */
static char *bare_type(const char *ct)
{
	size_t n = strcspn(ct, "; \t");

	return xstrndup(ct, n);
}

static int schema_version(json_object *o, struct error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(o, "schemaVersion", &v) || !json_object_is_type(v, json_type_int))
		return error_set(err, 0, "manifest has no schemaVersion");
	if (json_object_get_int64(v) == 1)
		return error_set(err, 0, "Docker schema 1 manifests are not supported (deprecated format)");
	if (json_object_get_int64(v) != 2)
		return error_set(err, 0, "unsupported manifest schemaVersion %" PRId64, json_object_get_int64(v));
	return 0;
}

static int kind_from_body(json_object *o, const char *ct, enum manifest_kind *ret, struct error *err)
{
	const char *mt = jstr(o, "mediaType");
	enum manifest_kind ck;
	bool ct_known = ct && kind_of_type(ct, &ck) == 0;

	if (mt && is_schema1(mt))
		return error_set(err, 0, "Docker schema 1 manifests are not supported (deprecated format)");
	if (mt) {
		if (kind_of_type(mt, ret) < 0)
			return error_set(err, 0, "unsupported manifest media type: %s", mt);
		if (ct_known && strcmp(ct, mt) != 0)
			return error_set(err, 0, "manifest media type %s does not match Content-Type %s", mt, ct);
		return 0;
	}
	if (ct_known) {
		*ret = ck;
		return 0;
	}
	/* OCI allows an absent mediaType: the shape decides. */
	if (json_object_object_get_ex(o, "manifests", NULL))
		*ret = MANIFEST_KIND_INDEX;
	else if (json_object_object_get_ex(o, "layers", NULL))
		*ret = MANIFEST_KIND_IMAGE;
	else
		return error_set(err, 0, "unrecognised manifest (no mediaType, manifests or layers)");
	return 0;
}

int manifest_kind(const char *body, size_t len, const char *content_type, enum manifest_kind *ret,
		  struct error *err)
{
	_cleanup_free_ char *ct = content_type ? bare_type(content_type) : NULL;
	json_object *o;
	int r;

	if (ct && is_schema1(ct))
		return error_set(err, 0, "Docker schema 1 manifests are not supported (deprecated format)");
	if (len > MANIFEST_MAX_BYTES)
		return error_set(err, 0, "manifest is larger than %u bytes", MANIFEST_MAX_BYTES);
	o = parse_json(body, len, "manifest", err);
	if (o == NULL)
		return -1;
	r = schema_version(o, err);
	if (r == 0)
		r = kind_from_body(o, ct, ret, err);
	json_object_put(o);
	return r;
}

static int parse_size(json_object *o, uint64_t max, uint64_t *ret, struct error *err)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, "size", &v) || !json_object_is_type(v, json_type_int))
		return error_set(err, 0, "descriptor has no valid size");
	n = json_object_get_int64(v);
	if (n < 0 || (uint64_t)n > max)
		return error_set(err, 0, "descriptor size %" PRId64 " is out of range (limit %" PRIu64 ")", n, max);
	*ret = (uint64_t)n;
	return 0;
}

static int parse_descriptor(json_object *o, uint64_t max, struct descriptor *d, struct error *err)
{
	const char *digest, *mt;

	if (!json_object_is_type(o, json_type_object))
		return error_set(err, 0, "descriptor is not an object");
	digest = jstr(o, "digest");
	mt = jstr(o, "mediaType");
	if (digest == NULL)
		return error_set(err, 0, "descriptor has no digest");
	if (!digest_valid(digest))
		return error_set(err, 0, "unsupported or malformed digest (want sha256:<64 hex>): %.80s", digest);
	if (mt == NULL)
		return error_set(err, 0, "descriptor %s has no mediaType", digest);
	if (parse_size(o, max, &d->size, err) < 0)
		return error_prefix(err, "%s", digest);
	snprintf(d->digest, sizeof(d->digest), "%s", digest);
	d->media_type = xstrdup(mt);
	return 0;
}

static int layer_type(struct layer *l, struct error *err)
{
	const char *mt = l->d.media_type;

	for (size_t i = 0; i < ARRAY_SIZE(layer_types); i++) {
		if (!strcmp(mt, layer_types[i].type)) {
			l->compression = layer_types[i].compression;
			l->foreign = layer_types[i].foreign;
			return 0;
		}
	}
	if (strstr(mt, "+encrypted"))
		return error_set(err, 0, "encrypted layers are not supported: %s (%s)", l->d.digest, mt);
	return error_set(err, 0, "unsupported layer media type: %s (%s)", mt, l->d.digest);
}

static int parse_config(json_object *o, struct manifest *m, struct error *err)
{
	json_object *c;

	if (!json_object_object_get_ex(o, "config", &c))
		return error_set(err, 0, "manifest has no config");
	if (parse_descriptor(c, CONFIG_MAX_BYTES, &m->config, err) < 0)
		return error_prefix(err, "manifest config");
	for (size_t i = 0; i < ARRAY_SIZE(config_types); i++) {
		if (!strcmp(m->config.media_type, config_types[i]))
			return 0;
	}
	return error_set(err, 0, "not a container image: unsupported config media type %s", m->config.media_type);
}

static int parse_layers(json_object *o, struct manifest *m, struct error *err)
{
	json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(o, "layers", &arr) || !json_object_is_type(arr, json_type_array))
		return error_set(err, 0, "manifest has no layers array");
	n = json_object_array_length(arr);
	if (n == 0)
		return error_set(err, 0, "manifest has no layers");
	if (n > MANIFEST_MAX_LAYERS)
		return error_set(err, 0, "manifest has %zu layers (limit %d)", n, MANIFEST_MAX_LAYERS);
	m->layers = xcalloc(n, sizeof(*m->layers));
	for (size_t i = 0; i < n; i++) {
		struct layer *l = &m->layers[i];

		m->n_layers = i + 1;
		if (parse_descriptor(json_object_array_get_idx(arr, i), LAYER_MAX_BYTES, &l->d, err) < 0)
			return error_prefix(err, "layer %zu", i);
		if (layer_type(l, err) < 0)
			return -1;
	}
	return 0;
}

int manifest_parse(const char *body, size_t len, struct manifest *ret, struct error *err)
{
	struct manifest m = {0};
	enum manifest_kind kind;
	json_object *o;
	int r;

	if (manifest_kind(body, len, NULL, &kind, err) < 0)
		return -1;
	if (kind != MANIFEST_KIND_IMAGE)
		return error_set(err, 0, "expected an image manifest, got an index");
	o = parse_json(body, len, "manifest", err);
	if (o == NULL)
		return -1;
	m.media_type = xstrdup(jstr(o, "mediaType") ? jstr(o, "mediaType") : MT_OCI_MANIFEST);
	r = parse_config(o, &m, err);
	if (r == 0)
		r = parse_layers(o, &m, err);
	json_object_put(o);
	if (r < 0) {
		manifest_done(&m);
		return r;
	}
	*ret = m;
	return 0;
}

void descriptor_done(struct descriptor *d)
{
	free(d->media_type);
	d->media_type = NULL;
}

void manifest_done(struct manifest *m)
{
	free(m->media_type);
	descriptor_done(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_done(&m->layers[i].d);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

static bool variant_matches(const char *arch, const char *want, const char *have)
{
	if (want == NULL)
		return true;
	if (have != NULL)
		return !strcmp(want, have);
	/* Many arm64 images omit the variant; v8 is the only one in use. */
	return !strcmp(arch, "arm64") && !strcmp(want, "v8");
}

static bool platform_matches(json_object *e, const char *os, const char *arch, const char *variant)
{
	json_object *p;
	const char *pos, *parch;

	if (!json_object_object_get_ex(e, "platform", &p) || !json_object_is_type(p, json_type_object))
		return false;
	pos = jstr(p, "os");
	parch = jstr(p, "architecture");
	if (pos == NULL || parch == NULL || strcmp(pos, os) != 0 || strcmp(parch, arch) != 0)
		return false;
	return variant_matches(arch, variant, jstr(p, "variant"));
}

static void list_platform(json_object *e, struct strbuf *sb)
{
	json_object *p;
	const char *v;

	if (!json_object_object_get_ex(e, "platform", &p) || sb->len > 512)
		return;
	strbuf_addf(sb, "%s%.32s/%.32s", sb->len ? ", " : "", jstr(p, "os") ? jstr(p, "os") : "?",
		    jstr(p, "architecture") ? jstr(p, "architecture") : "?");
	v = jstr(p, "variant");
	if (v)
		strbuf_addf(sb, "/%.16s", v);
}

static int select_entry(json_object *arr, const char *os, const char *arch, const char *variant,
			struct descriptor *ret, struct error *err)
{
	struct strbuf avail = STRBUF_INIT;
	size_t n = json_object_array_length(arr);
	enum manifest_kind k;

	if (n > MANIFEST_MAX_ENTRIES)
		return error_set(err, 0, "manifest list has %zu entries (limit %d)", n, MANIFEST_MAX_ENTRIES);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(e, json_type_object))
			continue;
		if (!platform_matches(e, os, arch, variant)) {
			list_platform(e, &avail);
			continue;
		}
		strbuf_release(&avail);
		if (parse_descriptor(e, MANIFEST_MAX_BYTES, ret, err) < 0)
			return error_prefix(err, "manifest list entry %zu", i);
		if (kind_of_type(ret->media_type, &k) < 0) {
			error_set(err, 0, "manifest list entry has unsupported media type %s", ret->media_type);
			descriptor_done(ret);
			return -1;
		}
		return 0;
	}
	error_set(err, 0, "no image for platform %s/%s%s%s (available: %s)", os, arch, variant ? "/" : "",
		  variant ? variant : "", avail.len ? avail.buf : "none");
	strbuf_release(&avail);
	return -1;
}

int index_select(const char *body, size_t len, const char *os, const char *arch, const char *variant,
		 struct descriptor *ret, struct error *err)
{
	enum manifest_kind kind;
	json_object *o, *arr;
	int r;

	if (manifest_kind(body, len, NULL, &kind, err) < 0)
		return -1;
	if (kind != MANIFEST_KIND_INDEX)
		return error_set(err, 0, "expected a manifest list, got an image manifest");
	o = parse_json(body, len, "manifest list", err);
	if (o == NULL)
		return -1;
	if (!json_object_object_get_ex(o, "manifests", &arr) || !json_object_is_type(arr, json_type_array))
		r = error_set(err, 0, "manifest list has no manifests array");
	else
		r = select_entry(arr, os, arch, variant, ret, err);
	json_object_put(o);
	return r;
}

static bool ref_matches(json_object *e, const char *ref)
{
	json_object *ann;
	const char *name;

	if (ref == NULL)
		return true;
	if (!json_object_object_get_ex(e, "annotations", &ann) || !json_object_is_type(ann, json_type_object))
		return false;
	name = jstr(ann, "org.opencontainers.image.ref.name");
	return name != NULL && !strcmp(name, ref);
}

int index_find_ref(const char *body, size_t len, const char *ref, struct descriptor *ret, struct error *err)
{
	json_object *o = parse_json(body, len, "index.json", err), *arr;
	size_t n, found = 0, idx = 0;
	int r = 0;

	if (o == NULL)
		return -1;
	if (!json_object_object_get_ex(o, "manifests", &arr) || !json_object_is_type(arr, json_type_array) ||
	    (n = json_object_array_length(arr)) > MANIFEST_MAX_ENTRIES) {
		json_object_put(o);
		return error_set(err, 0, "index.json has no usable manifests array");
	}
	for (size_t i = 0; i < n; i++) {
		if (ref_matches(json_object_array_get_idx(arr, i), ref) && found++ == 0)
			idx = i;
	}
	/* Without a name the layout must hold exactly one image. */
	if (ref && found == 0)
		r = error_set(err, 0, "no image named '%s' in the layout", ref);
	else if (found != 1 && ref == NULL)
		r = error_set(err, 0, "the layout holds %zu images: name one as oci://DIR:NAME", found);
	if (r == 0)
		r = parse_descriptor(json_object_array_get_idx(arr, idx), MANIFEST_MAX_BYTES, ret, err);
	json_object_put(o);
	return r;
}

static char *token_field(json_object *o)
{
	const char *t = jstr(o, "token");

	if (t == NULL || *t == '\0')
		t = jstr(o, "access_token");
	if (t == NULL || *t == '\0')
		return NULL;
	/* It goes into an HTTP header: no CR/LF smuggling. */
	if (strpbrk(t, "\r\n") != NULL)
		return NULL;
	return xstrdup(t);
}

int token_response_parse(const char *body, size_t len, char **ret_token, long *ret_expires_in,
			 struct error *err)
{
	json_object *o, *v;
	long expires = 60;
	char *token;

	if (len > TOKEN_MAX_BYTES)
		return error_set(err, 0, "token response is larger than %u bytes", TOKEN_MAX_BYTES);
	o = parse_json(body, len, "token response", err);
	if (o == NULL)
		return -1;
	token = token_field(o);
	if (json_object_object_get_ex(o, "expires_in", &v) && json_object_is_type(v, json_type_int)) {
		int64_t e = json_object_get_int64(v);

		if (e > 0)
			expires = e > 86400 * 365 ? 86400 * 365 : (long)e;
	}
	json_object_put(o);
	if (token == NULL)
		return error_set(err, 0, "token response has no token");
	*ret_token = token;
	*ret_expires_in = expires;
	return 0;
}
