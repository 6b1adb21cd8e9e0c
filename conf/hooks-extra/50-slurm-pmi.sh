#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The MPI side of a Slurm step in a container (enroot's extra hook of the
# same name, installed in $(DATADIR)/hooks.d): copy or link it into the
# sysconf hooks.d to enable it.  In a step (SLURM_STEP_ID set) it passes
# SLURM_*, PMIX_* and PMI_* into the container environment, derives
# PMIX_MCA_{ptl,psec,gds} from PMIX_{PTL,SECURITY,GDS}_MODULE, and binds the
# step's PMIx server directory (PMIX_SERVER_TMPDIR: the server's socket and
# its gds/ds21 shared-memory store) at the same path.
set -euo pipefail

[ -n "${SLURM_STEP_ID-}" ] || exit 0

while IFS= read -r name; do
	case "$name" in
	SLURM_* | PMIX_* | PMI_*)
		# One line per variable in the environment file.
		[[ ${!name} != *$'\n'* ]] && printf '%s=%s\n' "$name" "${!name}" >>"$ENROOT_ENVIRON" ;;
	esac
done < <(compgen -e)

[ -z "${PMIX_PTL_MODULE-}" ] || echo "PMIX_MCA_ptl=$PMIX_PTL_MODULE" >>"$ENROOT_ENVIRON"
[ -z "${PMIX_SECURITY_MODULE-}" ] || echo "PMIX_MCA_psec=$PMIX_SECURITY_MODULE" >>"$ENROOT_ENVIRON"
[ -z "${PMIX_GDS_MODULE-}" ] || echo "PMIX_MCA_gds=$PMIX_GDS_MODULE" >>"$ENROOT_ENVIRON"

if [ -n "${PMIX_SERVER_TMPDIR-}" ] && [ -d "$PMIX_SERVER_TMPDIR" ]; then
	echo "$PMIX_SERVER_TMPDIR $PMIX_SERVER_TMPDIR none x-create=dir,bind,rw,nosuid,nodev" >>"$ENROOT_MOUNTS"
fi
