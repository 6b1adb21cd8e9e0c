/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <sys/stat.h>

#include "gpu/cdi.h"
#include "tap.h"
#include "util/strbuf.h"

static const char json_spec[] =
	"{\"cdiVersion\": \"0.6.0\", \"kind\": \"example.com/dev\",\n"
	" \"containerEdits\": {\"env\": [\"TOP=1\"],\n"
	"   \"hooks\": [{\"hookName\": \"createContainer\", \"path\": \"/usr/bin/nvidia-cdi-hook\",\n"
	"              \"args\": [\"nvidia-cdi-hook\", \"create-symlinks\", \"--link\", \"a::/b\"]}]},\n"
	" \"devices\": [{\"name\": \"0\", \"containerEdits\": {\n"
	"   \"deviceNodes\": [{\"path\": \"/dev/example0\", \"hostPath\": \"/dev/null\", \"type\": \"c\",\n"
	"                    \"major\": 1, \"minor\": 3, \"permissions\": \"rw\"}],\n"
	"   \"mounts\": [{\"hostPath\": \"/opt/x\", \"containerPath\": \"/x\", \"options\": [\"ro\", \"bind\"]}],\n"
	"   \"env\": [\"DEV=zero\"]}}]}\n";

static const char yaml_spec[] = "cdiVersion: 0.5.0\n"
				"kind: nvidia.com/gpu\n"
				"devices:\n"
				"- name: all\n"
				"  containerEdits:\n"
				"    deviceNodes:\n"
				"    - path: /dev/nvidia0\n"
				"- name: GPU-1234\n"
				"  containerEdits:\n"
				"    env: [A=b]\n"
				"containerEdits:\n"
				"  env:\n"
				"  mounts:\n"
				"  - hostPath: /lib/libcuda.so.1\n"
				"    containerPath: /lib/libcuda.so.1\n"
				"    options: [ro, nosuid, nodev, bind]\n";

static int parse(const char *text, struct cdi_spec *s, struct error *err)
{
	return cdi_spec_parse(text, strlen(text), "test.yaml", s, err);
}

static void assert_fails_with(const char *text, const char *needle)
{
	struct cdi_spec s = {0};
	struct error err = ERROR_INIT;

	ASSERT_FAILS(parse(text, &s, &err));
	if (strstr(err.msg, needle) == NULL || strstr(err.msg, "test.yaml") == NULL)
		TAP_FAIL("message '%s' lacks '%s' or the file name", err.msg, needle);
}

TEST(json)
{
	struct cdi_spec s = {0};
	struct error err = ERROR_INIT;

	ASSERT_OK(parse(json_spec, &s, &err), &err);
	ASSERT_STREQ(s.kind, "example.com/dev");
	ASSERT_EQ(s.n_devices, 1);
	ASSERT_STREQ(s.devices[0].name, "0");
	ASSERT_EQ(s.devices[0].edits.n_nodes, 1);
	ASSERT_STREQ(s.devices[0].edits.nodes[0].host_path, "/dev/null");
	ASSERT_EQ(s.devices[0].edits.nodes[0].major, 1);
	ASSERT_EQ(s.devices[0].edits.nodes[0].minor, 3);
	ASSERT_STREQ(s.devices[0].edits.mounts[0].options.v[1], "bind");
	ASSERT_STREQ(s.devices[0].edits.env.v[0], "DEV=zero");
	ASSERT_STREQ(s.edits.env.v[0], "TOP=1");
	ASSERT_EQ(s.edits.n_hooks, 1);
	ASSERT_STREQ(s.edits.hooks[0].path, "/usr/bin/nvidia-cdi-hook");
	ASSERT_EQ(s.edits.hooks[0].args.n, 4);
	cdi_spec_done(&s);
}

/* What JSON writers emit: no blanks after ':' and ',', or tab indents. */
TEST(json_compact_and_tabs)
{
	static const char compact[] = "{\"cdiVersion\":\"1.0.0\",\"kind\":\"a.com/b\",\"devices\":[{\"name\":\"x\","
				      "\"containerEdits\":{\"deviceNodes\":[{\"path\":\"/dev/x\",\"major\":195}]}}]}";
	static const char tabs[] = "{\n\t\"cdiVersion\": \"0.8.0\",\n\t\"kind\": \"a.com/b\",\n\t\"devices\": [\n"
				   "\t\t{\"name\": \"y\"}\n\t]\n}\n";
	struct cdi_spec s = {0};
	struct error err = ERROR_INIT;

	ASSERT_OK(parse(compact, &s, &err), &err);
	ASSERT_EQ(s.devices[0].edits.nodes[0].major, 195);
	cdi_spec_done(&s);
	ASSERT_OK(parse(tabs, &s, &err), &err);
	ASSERT_STREQ(s.devices[0].name, "y");
	cdi_spec_done(&s);
}

TEST(yaml)
{
	struct cdi_spec s = {0};
	struct error err = ERROR_INIT;

	ASSERT_OK(parse(yaml_spec, &s, &err), &err);
	ASSERT_EQ(s.n_devices, 2);
	ASSERT_STREQ(s.devices[0].edits.nodes[0].path, "/dev/nvidia0");
	ASSERT_EQ(s.devices[0].edits.nodes[0].major, -1);
	ASSERT_EQ(s.devices[0].edits.nodes[0].host_path == NULL, 1);
	ASSERT_STREQ(s.devices[1].edits.env.v[0], "A=b");
	ASSERT_EQ(s.edits.env.n, 0);
	ASSERT_STREQ(s.edits.mounts[0].container_path, "/lib/libcuda.so.1");
	cdi_spec_done(&s);
}

TEST(malformed)
{
	assert_fails_with("{\"cdiVersion\": \"0.6.0\", \"kind\": ", "line");
	assert_fails_with("", "empty");
	assert_fails_with("- a\n- b\n", "must be a mapping");
	assert_fails_with("cdiVersion: 9.9.9\nkind: a.com/b\ndevices: [{name: x}]\n", "cdiVersion");
	assert_fails_with("cdiVersion: 0.6.0\nkind: nokind\ndevices: [{name: x}]\n", "kind");
	assert_fails_with("cdiVersion: 0.6.0\nkind: a.com/b\n", "devices");
	assert_fails_with("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: 'a b'}]\n", "device name");
	assert_fails_with("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x}, {name: x}]\n", "twice");
	assert_fails_with("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: "
			  "{deviceNodes: [{path: dev/x}]}}]\n",
			  "absolute");
	assert_fails_with("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: "
			  "{deviceNodes: [{path: /dev/x, major: -1}]}}]\n",
			  "major");
	assert_fails_with("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: "
			  "{env: [NOEQUALS]}}]\n",
			  "NAME=VALUE");
	assert_fails_with("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: "
			  "{mounts: [{hostPath: /a}]}}]\n",
			  "containerPath");
	assert_fails_with("cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: "
			  "{hooks: [{hookName: createContainer}]}}]\n",
			  "path");
}

TEST(bounds)
{
	struct strbuf b = STRBUF_INIT;
	char *big = malloc(CDI_MAX_SPEC_SIZE + 2);

	memset(big, ' ', CDI_MAX_SPEC_SIZE + 1);
	big[CDI_MAX_SPEC_SIZE + 1] = '\0';
	assert_fails_with(big, "larger than");
	strbuf_addf(&b, "cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {env: [");
	for (int i = 0; i <= CDI_MAX_ITEMS; i++)
		strbuf_addf(&b, "%sA=%d", i ? ", " : "", i);
	strbuf_addf(&b, "]}}]\n");
	assert_fails_with(strbuf_str(&b), "too many");
	strbuf_release(&b);
	strbuf_addf(&b, "cdiVersion: 0.6.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {env: ['A=");
	for (int i = 0; i <= CDI_MAX_STRING; i++)
		strbuf_addch(&b, 'a');
	strbuf_addf(&b, "']}}]\n");
	assert_fails_with(strbuf_str(&b), "too long");
	strbuf_release(&b);
	free(big);
}

/* Aliases are not expanded by libyaml, but a naive walk would visit 10^9
 * nodes: the visit cap turns it into an error. */
TEST(alias_bomb)
{
	static const char bomb[] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
				   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
				   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
				   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
				   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
				   "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
				   "cdiVersion: 0.6.0\nkind: a.com/b\n"
				   "devices: [{name: x, containerEdits: {env: *f}}]\n";
	struct cdi_spec s = {0};
	struct error err = ERROR_INIT;

	ASSERT_FAILS(parse(bomb, &s, &err));
}

TEST(qualified_name)
{
	ASSERT_TRUE(cdi_is_qualified_name("nvidia.com/gpu=0"));
	ASSERT_TRUE(cdi_is_qualified_name("nvidia.com/gpu=all"));
	ASSERT_TRUE(cdi_is_qualified_name("nvidia.com/gpu=GPU-8a3e-12:0"));
	ASSERT_TRUE(cdi_is_qualified_name("example.com/dev=a_b"));
	ASSERT_TRUE(!cdi_is_qualified_name("0"));
	ASSERT_TRUE(!cdi_is_qualified_name("all"));
	ASSERT_TRUE(!cdi_is_qualified_name("GPU-1234"));
	ASSERT_TRUE(!cdi_is_qualified_name("nvidia.com/gpu"));
	ASSERT_TRUE(!cdi_is_qualified_name("nvidia.com/gpu="));
	ASSERT_TRUE(!cdi_is_qualified_name("/gpu=0"));
	ASSERT_TRUE(!cdi_is_qualified_name("nvidia.com/=0"));
	ASSERT_TRUE(!cdi_is_qualified_name("nvidia.com/g.pu=0"));
	ASSERT_TRUE(!cdi_is_qualified_name(NULL));
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/test_cdi.XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		TAP_FAIL("mkdtemp");
	return strdup(tmpl);
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		TAP_FAIL("fopen %s", path);
	fputs(text, f);
	fclose(f);
}

static const char spec_a[] = "cdiVersion: 0.6.0\nkind: a.com/b\n"
			     "containerEdits: {env: [TOP=a]}\n"
			     "devices: [{name: x, containerEdits: {env: [X=a]}}, "
			     "{name: y, containerEdits: {env: [Y=a]}}]\n";
static const char spec_b[] = "{\"cdiVersion\": \"0.6.0\", \"kind\": \"a.com/b\", "
			     "\"devices\": [{\"name\": \"x\", \"containerEdits\": {\"env\": [\"X=b\"]}}]}";

static int resolve(const char *dirs, const char *req, struct cdi_edits *e, struct error *err)
{
	struct strv reqs = STRV_INIT;
	int r;

	strv_push(&reqs, req);
	r = cdi_resolve(dirs, &reqs, e, err);
	strv_free(&reqs);
	return r;
}

TEST(resolve)
{
	char *d = tmpdir();
	struct cdi_edits e = {0};
	struct error err = ERROR_INIT;

	put(d, "a.yaml", spec_a);
	put(d, "ignored.txt", "not a spec");
	ASSERT_OK(resolve(d, "a.com/b=y", &e, &err), &err);
	ASSERT_EQ(e.env.n, 2);
	ASSERT_STREQ(e.env.v[0], "TOP=a");
	ASSERT_STREQ(e.env.v[1], "Y=a");
	cdi_edits_done(&e);
	ASSERT_OK(resolve(d, "a.com/b=all", &e, &err), &err);
	ASSERT_EQ(e.env.n, 3);
	cdi_edits_done(&e);
	ASSERT_FAILS(resolve(d, "a.com/b=z", &e, &err));
	ASSERT_TRUE(strstr(err.msg, "'a.com/b=z' not found") != NULL);
	ASSERT_FAILS(resolve(d, "nonsense", &e, &err));
	ASSERT_TRUE(strstr(err.msg, "invalid CDI device") != NULL);
}

TEST(conflict_and_override)
{
	char *d1 = tmpdir(), *d2 = tmpdir();
	char dirs[256];
	struct cdi_edits e = {0};
	struct error err = ERROR_INIT;

	put(d1, "a.yaml", spec_a);
	put(d2, "b.json", spec_b);
	snprintf(dirs, sizeof(dirs), "%s %s", d1, d2);
	/* The later directory wins. */
	ASSERT_OK(resolve(dirs, "a.com/b=x", &e, &err), &err);
	ASSERT_EQ(e.env.n, 1);
	ASSERT_STREQ(e.env.v[0], "X=b");
	cdi_edits_done(&e);
	/* The same directory: a conflict naming both files. */
	put(d1, "b.json", spec_b);
	ASSERT_FAILS(resolve(d1, "a.com/b=x", &e, &err));
	ASSERT_TRUE(strstr(err.msg, "a.yaml") && strstr(err.msg, "b.json") && strstr(err.msg, "both"));
	/* A malformed spec names its file. */
	put(d2, "bad.json", "{\"cdiVersion\": ");
	ASSERT_FAILS(resolve(dirs, "a.com/b=y", &e, &err));
	ASSERT_TRUE(strstr(err.msg, "bad.json") != NULL);
}

TAP_MAIN(T(json), T(json_compact_and_tabs), T(yaml), T(malformed), T(bounds), T(alias_bomb), T(qualified_name), T(resolve),
	 T(conflict_and_override))
