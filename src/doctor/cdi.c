/* SPDX-License-Identifier: Apache-2.0 */
/* CDI specs: a malformed or conflicting spec fails every `--device` start
 * (and NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=...) that reads it, so it is
 * found here first, with the file named. */
#include "doctor/doctor.h"
#include "gpu/cdi.h"

void doctor_check_cdi(const struct doctor_env *env, struct doctor_report *r)
{
	const char *dirs = env->cfg ? config_get(env->cfg, "CDI_SPEC_DIRS") : NULL;
	struct error err = ERROR_INIT;
	size_t specs = 0, devices = 0;

	if (dirs == NULL)
		return;
	if (cdi_check(dirs, &specs, &devices, &err) < 0) {
		doctor_add(r, "cdi", DOCTOR_FAIL,
			   "fix or remove that spec (NVIDIA's: nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml); "
			   "until then --device fails",
			   "%s", err.msg);
		error_clear(&err);
		return;
	}
	if (specs == 0)
		doctor_add(r, "cdi", DOCTOR_OK, "--device needs a vendor's CDI spec there (e.g. nvidia-ctk cdi generate)",
			   "no CDI specs in %s", dirs);
	else
		doctor_add(r, "cdi", DOCTOR_OK, "start --device VENDOR/CLASS=NAME uses them",
			   "%zu CDI spec file(s) in %s define %zu device(s), none in conflict", specs, dirs, devices);
}
