/* SPDX-License-Identifier: Apache-2.0 */
#include "image/registry/reference.h"
#include "tap.h"

static void check(const char *uri, const char *user, const char *registry, const char *image, const char *tag,
		  const char *digest)
{
	struct image_ref r;
	struct error err = ERROR_INIT;

	if (image_ref_parse(uri, &r, &err) < 0)
		TAP_FAIL("%s: %s", uri, err.msg);
#define SAME(a, b)                                                                                           \
	if (!((a) == NULL && (b) == NULL) && ((a) == NULL || (b) == NULL || strcmp(a, b)))                 \
	TAP_FAIL("%s: %s is '%s', want '%s'", uri, #a, (a) ? (a) : "(null)", (b) ? (b) : "(null)")
	SAME(r.user, user);
	SAME(r.registry, registry);
	SAME(r.image, image);
	SAME(r.tag, tag);
	SAME(r.digest, digest);
	image_ref_done(&r);
}

TEST(docker_hub_forms)
{
	check("docker://ubuntu", NULL, DOCKER_HUB, "library/ubuntu", "latest", NULL);
	check("docker://ubuntu:24.04", NULL, DOCKER_HUB, "library/ubuntu", "24.04", NULL);
	check("docker://nvidia/cuda:12.4.0-base", NULL, DOCKER_HUB, "nvidia/cuda", "12.4.0-base", NULL);
	/* localhost has neither '.' nor ':': a Docker Hub namespace. */
	check("docker://localhost/foo", NULL, DOCKER_HUB, "localhost/foo", "latest", NULL);
	check("docker://docker.io/ubuntu", NULL, DOCKER_HUB, "library/ubuntu", "latest", NULL);
	check("docker://index.docker.io#alpine:3", NULL, DOCKER_HUB, "library/alpine", "3", NULL);
}

TEST(registries)
{
	check("docker://nvcr.io#nvidia/cuda:12.4.0-base-ubuntu20.04", NULL, "nvcr.io", "nvidia/cuda",
	      "12.4.0-base-ubuntu20.04", NULL);
	check("docker://nvcr.io/nvidia/cuda:12", NULL, "nvcr.io", "nvidia/cuda", "12", NULL);
	check("docker://127.0.0.1:5000#team/sub/busybox:1.35", NULL, "127.0.0.1:5000", "team/sub/busybox", "1.35",
	      NULL);
	check("docker://127.0.0.1:5000/busybox", NULL, "127.0.0.1:5000", "busybox", "latest", NULL);
	check("docker://$oauthtoken@nvcr.io#nvidia/pytorch:24.01-py3", "$oauthtoken", "nvcr.io", "nvidia/pytorch",
	      "24.01-py3", NULL);
}

TEST(digests)
{
	check("docker://ubuntu@sha256:abc123", NULL, DOCKER_HUB, "library/ubuntu", NULL, "sha256:abc123");
	check("docker://ubuntu:22.04@sha256:abc123", NULL, DOCKER_HUB, "library/ubuntu", NULL, "sha256:abc123");
	check("docker://reg.io#a/b@sha256:ff", NULL, "reg.io", "a/b", NULL, "sha256:ff");
}

TEST(invalid)
{
	struct image_ref r;
	struct error err = ERROR_INIT;

	ASSERT_FAILS(image_ref_parse("ubuntu", &r, &err));
	ASSERT_FAILS(image_ref_parse("docker://reg.io#Ubuntu", &r, &err));
	ASSERT_FAILS(image_ref_parse("docker://", &r, &err));
	ASSERT_FAILS(image_ref_parse("docker://a b", &r, &err));
	ASSERT_TRUE(strstr(err.msg, "invalid image reference") != NULL);
}

TEST(default_names)
{
	struct image_ref r;
	struct error err = ERROR_INIT;

	ASSERT_OK(image_ref_parse("docker://ubuntu", &r, &err), &err);
	ASSERT_STREQ(image_ref_default_name(&r, true), "ubuntu+latest.sqsh");
	ASSERT_STREQ(image_ref_default_name(&r, false), "ubuntu+latest");
	ASSERT_STREQ(image_ref_canonical(&r), "docker://registry-1.docker.io#library/ubuntu:latest");
	ASSERT_OK(image_ref_parse("docker://nvcr.io#nvidia/cuda:12.4.0-base-ubuntu20.04", &r, &err), &err);
	ASSERT_STREQ(image_ref_default_name(&r, true), "nvidia+cuda+12.4.0-base-ubuntu20.04.sqsh");
	ASSERT_OK(image_ref_parse("docker://ubuntu@sha256:ab", &r, &err), &err);
	ASSERT_STREQ(image_ref_default_name(&r, true), "ubuntu+sha256:ab.sqsh");
}

TEST(arch)
{
	const char *v = NULL;

	ASSERT_STREQ(image_arch_normalize("x86_64", &v), "amd64");
	ASSERT_STREQ(image_arch_normalize("amd64", &v), "amd64");
	ASSERT_STREQ(image_arch_normalize("aarch64", &v), "arm64");
	ASSERT_STREQ(v, "v8");
	ASSERT_TRUE(image_arch_normalize("sparc", &v) == NULL);
}

TAP_MAIN(T(docker_hub_forms), T(registries), T(digests), T(invalid), T(default_names), T(arch))
