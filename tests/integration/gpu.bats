#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
#
# Native NVIDIA GPU injection (issue 9, gpu.md) against a fake driver built
# offline by tests/fixtures/mkfakedriver.sh: no GPU, no privilege. The
# container is a small glibc rootfs (busybox + the host's libc, ld.so and
# static ldconfig + a dlopen probe), started with RESTRICT_DEV so that /dev
# holds only what capsa put there.

load helpers

setup_file() {
	[ -z "${CAPSA_SKIP_INTEGRATION:-}" ] || return 0
	G=$(mktemp -d "${CAPSA_TEST_TMPDIR:-/tmp}/capsa-gpufix.XXXXXX")
	chmod 0755 "$G"
	"$CAPSA_REPO/tests/fixtures/mkfakedriver.sh" "$G/fake" >&2
	mkimage "$G/rootfs" "$G/gpu.sqsh"
	# Hostile: the library directory is an absolute symlink to a host path.
	mkdir -p "$G/escape"
	chmod 0777 "$G/escape"
	cp -a "$G/rootfs" "$G/hostile"
	mv "$G/hostile/usr/lib/x86_64-linux-gnu" "$G/hostile/usr/lib/real"
	ln -s "$G/escape" "$G/hostile/usr/lib/x86_64-linux-gnu"
	mksquashfs "$G/hostile" "$G/hostile.sqsh" -all-root -noappend -quiet -no-progress >/dev/null
	chmod -R a+rX "$G"
	chmod 0700 "$G/fake/root-only"
	export G
}

teardown_file() {
	[ -z "${G:-}" ] || rm -rf "$G"
}

setup() { capsa_setup; }
teardown() { capsa_teardown; }

# mkimage DIR SQSH: the busybox fixture plus glibc, ldconfig and the probe.
mkimage() {
	local root=$1 mlib=/lib/x86_64-linux-gnu
	cp -a "$CAPSA_FIXTURES/busybox" "$root"
	mkdir -p "$root$mlib" "$root/lib64" "$root/usr/lib/x86_64-linux-gnu"
	cp -L "$mlib/libc.so.6" "$mlib/ld-linux-x86-64.so.2" "$root$mlib/"
	ln -sf "$mlib/ld-linux-x86-64.so.2" "$root/lib64/ld-linux-x86-64.so.2"
	cp -L "$(command -v ldconfig || echo /sbin/ldconfig)" "$root/sbin/ldconfig"
	cp "$G/fake/cudaprobe" "$G/fake/gpusmoke" "$root/usr/bin/"
	echo 12.0 >"$root/etc/debian_version"
	printf '%s\n' 'include /etc/ld.so.conf.d/*.conf' /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu \
		>"$root/etc/ld.so.conf"
	mksquashfs "$root" "$2" -all-root -noappend -quiet -no-progress >/dev/null
}

# gpu [NAME=VALUE]... ARGS: capsa with the fake driver's settings.
gpu() {
	capsa_env CAPSA_RESTRICT_DEV="${RESTRICT:-y}" CAPSA_NVIDIA_DRIVER_ROOT="$G/fake/root" \
		CAPSA_NVIDIA_PROC_ROOT="$G/fake/proc" CAPSA_NVIDIA_DEV_ROOT="${DEVROOT:-$G/fake/dev}" "$@"
}

create_gpu() { create_busybox gpu "$G/gpu.sqsh"; }

LIBDIR=/usr/lib/x86_64-linux-gnu

@test "gpu: unset, empty or void NVIDIA_VISIBLE_DEVICES injects nothing" {
	create_gpu
	for v in UNSET "" void "none,void"; do
		if [ "$v" = UNSET ]; then
			run --separate-stderr gpu start gpu sh -c "ls /dev; ls $LIBDIR"
		else
			run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES="$v" start gpu sh -c "ls /dev; ls $LIBDIR"
		fi
		assert_success
		assert_output_not_contains nvidia
		assert_output_not_contains libcuda
	done
}

@test "gpu: default capabilities (utility,compute): libraries, binaries, nodes; decoy and video/graphics libs left out" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all start gpu sh -c \
		"ls /dev $LIBDIR /usr/bin; readlink $LIBDIR/libcuda.so.1 $LIBDIR/libcuda.so; nvidia-smi"
	assert_success
	for f in nvidiactl nvidia0 nvidia1 nvidia-uvm nvidia-uvm-tools libcuda.so.550.54.14 \
		libnvidia-ml.so.550.54.14 libnvidia-ptxjitcompiler.so.550.54.14 nvidia-smi nvidia-cuda-mps-control \
		"fake nvidia-smi 550.54.14"; do
		assert_line_eq "$f"
	done
	assert_line_eq libcuda.so.550.54.14 # the SONAME link
	assert_line_eq libcuda.so.1         # libcuda.so -> libcuda.so.1
	assert_output_not_contains libnvcuvid
	assert_output_not_contains libnvidia-encode
	assert_output_not_contains libGLX
	assert_output_not_contains libnvidia-ngx
	assert_output_not_contains nvidia-modeset
}

@test "gpu: utility only: NVML and nvidia-smi, no libcuda, no nvidia-uvm, no MPS" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=none NVIDIA_DRIVER_CAPABILITIES=utility start gpu sh -c \
		"ls /dev $LIBDIR /usr/bin"
	assert_success
	assert_line_eq nvidiactl
	assert_line_eq libnvidia-ml.so.550.54.14
	assert_line_eq nvidia-smi
	assert_output_not_contains libcuda
	assert_output_not_contains nvidia-uvm
	assert_output_not_contains nvidia-cuda-mps
	assert_no_line_matching '^nvidia[0-9]'
}

@test "gpu: video brings the compute libraries and libnvcuvid but not the stale libnvidia-encode; all brings graphics and ngx" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=none NVIDIA_DRIVER_CAPABILITIES=video start gpu ls $LIBDIR /usr/bin
	assert_success
	assert_line_eq libnvcuvid.so.550.54.14
	assert_line_eq libcuda.so.550.54.14
	assert_output_not_contains libnvidia-encode
	assert_output_not_contains nvidia-cuda-mps
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=none NVIDIA_DRIVER_CAPABILITIES=all start gpu ls $LIBDIR
	assert_success
	assert_line_eq libGLX_nvidia.so.550.54.14
	assert_line_eq libGLX_indirect.so.0
	assert_line_eq libnvidia-ngx.so.550.54.14
	assert_output_not_contains libnvidia-encode
	# graphics: the EGL vendor file and the Vulkan ICD where the driver has them
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=none NVIDIA_DRIVER_CAPABILITIES=graphics start gpu \
		cat /usr/share/glvnd/egl_vendor.d/10_nvidia.json /etc/vulkan/icd.d/nvidia_icd.json
	assert_success
	assert_line_eq '{"ICD": {"library_path": "libEGL_nvidia.so.0"}}'
	assert_line_eq '{"ICD": {"library_path": "libGLX_nvidia.so.0"}}'
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=none gpu plan
	assert_success
	assert_output_not_contains nvidia_icd.json
	# EGL sees only the selected GPUs: index 0 is minor 1, so the mask is 0x2.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_DRIVER_CAPABILITIES=graphics start gpu sh -c \
		'cat /etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf;
		 touch /etc/nvidia/nvidia-application-profiles-rc.d/x 2>/dev/null || echo sealed'
	assert_success
	assert_output_contains '["EGLVisibleDGPUDevices", 0x2]'
	assert_line_eq sealed
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=display start gpu \
		cat /etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf
	assert_success
	assert_output_contains '["EGLVisibleDGPUDevices", 0x3]'
	# (earlier starts left the mount point in the rootfs: look at the mounts)
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all start gpu sh -c 'grep -c application-profiles /proc/self/mountinfo'
	assert_output_eq 0
}

@test "gpu: compat32 adds the i386 libraries in the 32-bit library directory" {
	[ -e "$G/fake/root/usr/lib/i386-linux-gnu/libcuda.so.550.54.14" ] || skip "no i386 compiler for the 32-bit stubs"
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start gpu sh -c 'ls /usr/lib/i386-linux-gnu 2>&1; true'
	assert_success
	assert_output_not_contains libcuda
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_DRIVER_CAPABILITIES=compute,utility,compat32 start gpu sh -c \
		'ls /usr/lib/i386-linux-gnu; /sbin/ldconfig -p | grep "libcuda.so.1 "; cudaprobe'
	assert_success
	assert_line_eq libcuda.so.550.54.14
	assert_line_eq libcuda.so.1
	assert_line_eq libnvidia-ml.so.550.54.14
	assert_output_contains "libcuda.so.1 (ELF) => /usr/lib/i386-linux-gnu/libcuda.so.1"
	assert_output_contains "libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1"
	assert_line_eq cuDriverGetVersion=12040
	# Without Debian's multiarch layout and without /usr/lib: /usr/lib32.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_DRIVER_CAPABILITIES=compute,compat32 gpu plan "$FIX/busybox"
	assert_success
	assert_line_eq "libdir32 /usr/lib32"
	assert_line_eq "lib /usr/lib32/libcuda.so.550.54.14 $G/fake/root/usr/lib/i386-linux-gnu/libcuda.so.550.54.14"
}

@test "gpu: each NVIDIA_VISIBLE_DEVICES form selects the right /dev/nvidiaN (index is not the minor)" {
	create_gpu
	local -A want=(
		[0]=nvidia1 [1]=nvidia0
		[GPU-11111111-2222-3333-4444-555555555555]=nvidia1
		[gpu-AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee]=nvidia0
		[0000:86:00.0]=nvidia0 [86:00.0]=nvidia0 [00000000:3b:00.0]=nvidia1
		["1, 0,1"]="nvidia0 nvidia1" [all]="nvidia0 nvidia1" [none]=""
	)
	local id got
	for id in "${!want[@]}"; do
		run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES="$id" start gpu sh -c 'cd /dev && echo nvidia[0-9]*'
		assert_success
		got=$output
		[ "$got" != "nvidia[0-9]*" ] || got=""
		[ "$got" = "${want[$id]}" ] || { echo "'$id': got '$got', want '${want[$id]}'" >&2; false; }
	done
}

@test "gpu: an unknown device id or capability is an error naming it" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=4 start gpu true
	assert_failure
	[[ $stderr == *"'4': unknown device"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=MIG-1234 start gpu true
	assert_failure
	[[ $stderr == *"MIG"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,gaming start gpu true
	assert_failure
	[[ $stderr == *"'gaming'"* ]] || { echo "$stderr" >&2; false; }
}

# gpu_nodes [NAME=VALUE]...: the /dev/nvidiaN in a container started with them.
gpu_nodes() {
	run --separate-stderr gpu "$@" start gpu sh -c 'cd /dev && echo nvidia[0-9]*'
	[ "$output" != "nvidia[0-9]*" ] || output=""
}

@test "gpu slurm: all means the step's GPUs (SLURM_STEP_GPUS are minors), else the job's; without Slurm every GPU" {
	create_gpu
	gpu_nodes SLURM_JOB_ID=42 SLURM_STEP_GPUS=0 NVIDIA_VISIBLE_DEVICES=all
	assert_success
	assert_output_eq nvidia0
	gpu_nodes SLURM_JOB_ID=42 SLURM_JOB_GPUS=1 NVIDIA_VISIBLE_DEVICES=all
	assert_success
	assert_output_eq nvidia1
	# The step's list wins over the job's.
	gpu_nodes SLURM_JOB_ID=42 SLURM_JOB_GPUS=0,1 SLURM_STEP_GPUS=1 NVIDIA_VISIBLE_DEVICES=all
	assert_success
	assert_output_eq nvidia1
	# Only the allocated GPU shows in /proc/driver/nvidia too (minor 0 is
	# 0000:86:00.0); the container's /proc is the fake one, as below.
	sed -i "s|^/proc |$G/fake/proc |" "$SYSCONF/mounts.d/10-system.fstab"
	run --separate-stderr gpu SLURM_JOB_ID=42 SLURM_STEP_GPUS=0 NVIDIA_VISIBLE_DEVICES=all start gpu \
		ls /proc/driver/nvidia/gpus
	assert_success
	assert_output_eq 0000:86:00.0
	# Not in a job (SLURM_JOB_ID unset), in a job without GPUs, or no Slurm at all: every GPU.
	for env in SLURM_STEP_GPUS=0 SLURM_JOB_ID=42 CAPSA_NO_SLURM=; do
		gpu_nodes "$env" NVIDIA_VISIBLE_DEVICES=all
		assert_success
		assert_output_eq "nvidia0 nvidia1"
	done
}

@test "gpu slurm: an explicit id outside the allocation is an error naming it; one inside works" {
	create_gpu
	# Index 0 is minor 1: not SLURM_STEP_GPUS=0.
	run --separate-stderr gpu SLURM_JOB_ID=42 SLURM_STEP_GPUS=0 NVIDIA_VISIBLE_DEVICES=0 start gpu true
	assert_failure
	[[ $stderr == *"not allocated to this Slurm job (SLURM_STEP_GPUS=0)"* ]] || { echo "$stderr" >&2; false; }
	[[ $stderr == *"/dev/nvidia1"* ]] || { echo "$stderr" >&2; false; }
	gpu_nodes SLURM_JOB_ID=42 SLURM_STEP_GPUS=0 NVIDIA_VISIBLE_DEVICES=1
	assert_success
	assert_output_eq nvidia0
	gpu_nodes SLURM_JOB_ID=42 SLURM_JOB_GPUS=0-1 NVIDIA_VISIBLE_DEVICES=0
	assert_success
	assert_output_eq nvidia1
	run --separate-stderr gpu SLURM_JOB_ID=42 SLURM_STEP_GPUS=gpu0 NVIDIA_VISIBLE_DEVICES=all start gpu true
	assert_failure
	[[ $stderr == *"SLURM_STEP_GPUS='gpu0'"* ]] || { echo "$stderr" >&2; false; }
}

@test "gpu slurm: the caller's CUDA_VISIBLE_DEVICES (per-task binding, pyxis#73) reaches the container unchanged" {
	create_gpu
	run --separate-stderr gpu SLURM_JOB_ID=42 SLURM_STEP_GPUS=0,1 SLURM_LOCALID=1 CUDA_VISIBLE_DEVICES=1 \
		NVIDIA_VISIBLE_DEVICES=all start -e CUDA_VISIBLE_DEVICES gpu sh -c \
		'echo "cvd=$CUDA_VISIBLE_DEVICES"; cd /dev && echo nvidia[0-9]*'
	assert_success
	assert_output_eq "cvd=1
nvidia0 nvidia1"
	run --separate-stderr gpu CUDA_VISIBLE_DEVICES=GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee NVIDIA_VISIBLE_DEVICES=0 \
		start -e CUDA_VISIBLE_DEVICES gpu sh -c 'echo "cvd=$CUDA_VISIBLE_DEVICES"'
	assert_success
	assert_output_eq "cvd=GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
}

@test "gpu: a program in the container dlopen()s libcuda.so.1 and libcuda.so and gets the stub; ldconfig knows it" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start gpu sh -c \
		'cudaprobe && cudaprobe libcuda.so && /sbin/ldconfig -p | grep "libcuda.so.1 "'
	assert_success
	assert_line_eq cuDriverGetVersion=12040
	assert_output_contains "=> $LIBDIR/libcuda.so.1"
}

@test "gpu: with --root (remapped root) too, ldconfig runs without capabilities and the stub loads" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all start -r -w gpu sh -c \
		'id -u; cudaprobe; /sbin/ldconfig -p | grep -c "libcuda.so.1 "'
	assert_success
	assert_line_eq 0
	assert_line_eq cuDriverGetVersion=12040
	assert_line_eq 1
}

@test "gpu: CUDA forward compatibility: the image's newer libcuda wins, an older one does not; the setting turns it off" {
	local v
	for v in 560.35.03 545.23.08; do
		cp -a "$G/rootfs" "$T/img-$v"
		mkdir -p "$T/img-$v/usr/local/cuda"
		cp -a "$G/fake/compat-$v" "$T/img-$v/usr/local/cuda/compat"
		mksquashfs "$T/img-$v" "$T/img-$v.sqsh" -all-root -noappend -quiet -no-progress >/dev/null
		capsa_chown "$T/img-$v.sqsh"
		create_busybox "c$v" "$T/img-$v.sqsh"
	done
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start c560.35.03 sh -c \
		'cudaprobe; cat /etc/ld.so.conf.d/000-capsa-cuda-compat.conf; /sbin/ldconfig -p | grep -m1 "libcuda.so.1 "'
	assert_success
	assert_line_eq cuDriverGetVersion=12060
	assert_line_eq /usr/local/cuda/compat
	assert_output_contains "=> /usr/local/cuda/compat/libcuda.so.1"
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start c545.23.08 sh -c 'cudaprobe; ls /etc/ld.so.conf.d 2>/dev/null; true'
	assert_success
	assert_line_eq cuDriverGetVersion=12040
	assert_output_not_contains capsa-cuda-compat
	# Turned off, the first start's drop-in is removed from the rootfs.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 CAPSA_NVIDIA_CUDA_COMPAT=n start c560.35.03 sh -c \
		'cudaprobe; ls /etc/ld.so.conf.d'
	assert_success
	assert_line_eq cuDriverGetVersion=12040
	assert_output_not_contains capsa-cuda-compat
}

@test "gpu: IPC endpoints: the persistenced socket with utility, the MPS directory with compute" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=none start gpu sh -c \
		'[ -S /var/run/nvidia-persistenced/socket ] && echo socket; [ -d /tmp/nvidia-mps ] && echo mps;
		 grep -E "nvidia-persistenced/socket|nvidia-mps" /proc/self/mountinfo | grep -c nosuid,nodev,noexec'
	assert_success
	assert_line_eq socket
	assert_line_eq mps
	assert_line_eq 2
	# (the first start left the mount points behind in the rootfs: look at the mounts)
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=none NVIDIA_DRIVER_CAPABILITIES=compute start gpu sh -c \
		'echo $(grep -c nvidia-persistenced /proc/self/mountinfo) $(grep -c /tmp/nvidia-mps /proc/self/mountinfo)'
	assert_success
	assert_output_eq "0 1"
}

@test "gpu: a best-effort mount that fails (firmware here) is a warning, the container starts" {
	cp -a "$G/rootfs" "$T/img"
	mkdir -p "$T/img/lib/firmware"
	echo "not a directory" >"$T/img/lib/firmware/nvidia"
	mksquashfs "$T/img" "$T/img.sqsh" -all-root -noappend -quiet -no-progress >/dev/null
	capsa_chown "$T/img.sqsh"
	create_busybox fw "$T/img.sqsh"
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start fw cudaprobe
	assert_success
	assert_line_eq cuDriverGetVersion=12040
	[[ $stderr == *"[WARN]"*"gsp_ga10x.bin"* ]] || { echo "$stderr" >&2; false; }
}

@test "gpu: host files and nodes are read-only nosuid bind mounts, firmware is there" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start gpu sh -c \
		"grep -E 'libcuda.so.550.54.14|/dev/nvidia1|/usr/bin/nvidia-smi|gsp_ga10x.bin' /proc/self/mountinfo; \
		 echo x > $LIBDIR/libcuda.so.550.54.14 || echo write-refused"
	assert_success
	assert_line_eq write-refused
	local n=0 l
	for l in "${lines[@]}"; do
		case "$l" in *mountinfo*|write-refused) continue ;; esac
		[[ $l == *" ro,nosuid"* ]] || { echo "not ro,nosuid: $l" >&2; false; }
		n=$((n + 1))
	done
	[ "$n" -eq 4 ] || { echo "expected 4 mounts, got $n: $output" >&2; false; }
	[[ $output == *"/dev/nvidia1 ro,nosuid,noexec"* ]] || { echo "device node flags: $output" >&2; false; }
}

@test "gpu: a device the user cannot open is one clear error naming node, errno and cause" {
	[ "$TUID" -ne 0 ] || skip "root opens /dev/kmsg"
	create_gpu
	DEVROOT=$G/fake/dev-denied
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start gpu true
	assert_failure
	[[ $stderr == *"dev-denied/nvidia1, c 1:11: cannot open: Permission denied (EACCES): the file mode 0644 "* ]] ||
		{ echo "$stderr" >&2; false; }
	# With "all", the GPU this user cannot open is left out, with a warning.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all start gpu sh -c 'cd /dev && echo nvidia[0-9]*'
	assert_success
	assert_output_eq nvidia0
	[[ $stderr == *"nvidia1"*"EACCES"* ]] || { echo "$stderr" >&2; false; }
}

@test "gpu: a node that is not the driver's (another major than /proc/devices says) is refused" {
	create_gpu
	cp -a "$G/fake/dev" "$T/dev"
	ln -sfn /dev/tty "$T/dev/nvidia1"
	capsa_chown "$T/dev"
	DEVROOT=$T/dev
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start gpu true
	assert_failure
	[[ $stderr == *"invalid device node $T/dev/nvidia1: c 5:0, not of the NVIDIA driver (major 1)"* ]] ||
		{ echo "$stderr" >&2; false; }
	# A regular file is no device node either.
	rm "$T/dev/nvidia1" && echo x >"$T/dev/nvidia1"
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start gpu true
	assert_failure
	[[ $stderr == *"invalid device node $T/dev/nvidia1: a regular file, not a character device"* ]] ||
		{ echo "$stderr" >&2; false; }
}

@test "gpu: with the host's /dev (no RESTRICT_DEV), a node missing there is never created in it" {
	create_gpu
	RESTRICT=n
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start gpu true
	assert_failure
	[[ $stderr == *"/dev/nvidiactl is not in the container's /dev, which is the host's: set CAPSA_RESTRICT_DEV=y"* ]] ||
		{ echo "$stderr" >&2; false; }
	assert_not_exists /dev/nvidiactl
}

@test "gpu: NVIDIA_REQUIRE_* (driver, cuda from the driver's libcuda, legacy CUDA_VERSION) is checked; NVIDIA_DISABLE_REQUIRE skips it" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_REQUIRE_DRIVER="driver>=999" start gpu true
	assert_failure
	[[ $stderr == *"requirement error: GPU 0 (00000000:3b:00.0): unsatisfied condition: driver>=999"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_REQUIRE_DRIVER="driver>=999" NVIDIA_DISABLE_REQUIRE=1 \
		start gpu true
	assert_success
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 \
		NVIDIA_REQUIRE_CUDA="cuda>=12.4 brand=tesla,driver>=470,driver<471 driver>=550,driver<551" start gpu true
	assert_success
	# The CUDA version comes from the driver's libcuda (the stub says 12.4).
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_REQUIRE_CUDA="cuda>=12.5" start gpu true
	assert_failure
	[[ $stderr == *"unsatisfied condition: cuda>=12.5, please update your driver"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_REQUIRE_CUDA="cuda>=12.4" start gpu true
	assert_success
	# A legacy image (CUDA_VERSION, no NVIDIA_REQUIRE_CUDA) requires its own version.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 CUDA_VERSION=12.6.1 start gpu true
	assert_failure
	[[ $stderr == *"unsatisfied condition: cuda>=12.6"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_REQUIRE_X="driver==550" start gpu true
	assert_failure
	[[ $stderr == *"invalid expression"* ]] || { echo "$stderr" >&2; false; }
}

@test "gpu: an image's symlinked library directory cannot make capsa write outside the rootfs" {
	create_busybox hostile "$G/hostile.sqsh"
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start hostile sh -c "ls $G/escape"
	# Mounts and links land at the link's target inside the rootfs, or fail.
	[ -z "$(ls -A "$G/escape")" ] || { ls -la "$G/escape" >&2; false; }
	if [ "$status" -eq 0 ]; then
		assert_line_eq libcuda.so.550.54.14
	fi
}

@test "gpu: /proc/driver/nvidia shows only the selected GPUs, with ModifyDeviceFiles: 0, read-only" {
	create_gpu
	# The container's /proc is the fake proc root, so that the driver's
	# directory exists there on a host without the module.
	sed -i "s|^/proc |$G/fake/proc |" "$SYSCONF/mounts.d/10-system.fstab"
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 start gpu sh -c \
		'ls /proc/driver/nvidia /proc/driver/nvidia/gpus; cat /proc/driver/nvidia/params /proc/driver/nvidia/gpus/*/information;
		 touch /proc/driver/nvidia/x 2>/dev/null || echo sealed'
	assert_success
	assert_line_eq "0000:3b:00.0"
	assert_output_not_contains "0000:86:00.0"
	assert_line_eq "ModifyDeviceFiles: 0"
	assert_output_contains "GPU-11111111-2222-3333-4444-555555555555"
	assert_line_eq registry
	assert_line_eq sealed
	# The host's copy is untouched.
	grep -q "ModifyDeviceFiles: 1" "$G/fake/proc/driver/nvidia/params"
}

@test "gpu: a kernel module of another version than the libraries is named as a mismatch" {
	cp -a "$G/fake/proc" "$T/proc"
	sed -i 's/550.54.14/560.35.03/' "$T/proc/driver/nvidia/version"
	capsa_chown "$T/proc"
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 CAPSA_NVIDIA_PROC_ROOT="$T/proc" start gpu true
	assert_failure
	[[ $stderr == *"libcuda.so.560.35.03 not found through the ld cache '$G/fake/root/etc/ld.so.cache': the driver's libraries are of another version than the loaded kernel module (driver/library version mismatch"* ]] ||
		{ echo "$stderr" >&2; false; }
	# ngx alone needs neither libcuda nor NVML.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 CAPSA_NVIDIA_PROC_ROOT="$T/proc" NVIDIA_DRIVER_CAPABILITIES=ngx gpu plan
	assert_success
	# An ld cache without the driver: what is missing, without a wrong guess.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_DRIVER_CAPABILITIES=utility CAPSA_NVIDIA_LDCACHE=/etc/ld.so.cache gpu plan
	assert_failure
	[[ $stderr == *"libnvidia-ml.so.550.54.14 not found through the ld cache '/etc/ld.so.cache'" ]] || { echo "$stderr" >&2; false; }
}

@test "gpu: without a driver, an image's own request starts CPU-only with a warning, the caller's fails" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all CAPSA_NVIDIA_PROC_ROOT="$T" start gpu true
	assert_failure
	[[ $stderr == *"the NVIDIA kernel module is not loaded ($T/driver/nvidia/version)"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu CAPSA_NVIDIA_PROC_ROOT="$T" start -e NVIDIA_VISIBLE_DEVICES=all gpu sh -c 'ls /dev'
	assert_success
	assert_output_not_contains nvidia
	[[ $stderr == *"no NVIDIA driver is loaded on this host: starting without GPUs"* ]] || { echo "$stderr" >&2; false; }
}

@test "gpu plan: prints the plan without starting; the library directory follows the rootfs's distribution" {
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1 gpu plan
	assert_success
	assert_line_eq "driver 550.54.14"
	assert_line_eq "capabilities compute,utility"
	assert_line_eq "gpu 1 00000000:86:00.0 GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee /dev/nvidia0"
	assert_line_eq "lib $LIBDIR/libcuda.so.550.54.14 $G/fake/root$LIBDIR/libcuda.so.550.54.14"
	assert_line_eq "link $LIBDIR/libcuda.so -> libcuda.so.1"
	assert_line_eq "dev /dev/nvidia0 $G/fake/dev/nvidia0"
	assert_line_eq "firmware /lib/firmware/nvidia/550.54.14/gsp_ga10x.bin $G/fake/root/lib/firmware/nvidia/550.54.14/gsp_ga10x.bin (optional)"
	# busybox has no /etc/debian_version: /usr/lib64
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=none gpu plan "$FIX/busybox"
	assert_success
	assert_line_eq "libdir /usr/lib64"
	assert_line_eq "lib /usr/lib64/libcuda.so.550.54.14 $G/fake/root$LIBDIR/libcuda.so.550.54.14"
	assert_no_line_matching '^gpu '
}

@test "gpu plan: inside a Slurm job, all is the allocation and an id outside it fails, as in a start" {
	run --separate-stderr gpu SLURM_JOB_ID=42 SLURM_STEP_GPUS=1 NVIDIA_VISIBLE_DEVICES=all gpu plan
	assert_success
	assert_line_eq "gpu 0 00000000:3b:00.0 GPU-11111111-2222-3333-4444-555555555555 /dev/nvidia1"
	assert_no_line_matching '^gpu 1 '
	run --separate-stderr gpu SLURM_JOB_ID=42 SLURM_STEP_GPUS=1 NVIDIA_VISIBLE_DEVICES=1 gpu plan
	assert_failure
	[[ $stderr == *"(SLURM_STEP_GPUS=1)"* ]] || { echo "$stderr" >&2; false; }
}

@test "gpu plan --json: valid JSON with the decoy reported, inactive requests and errors" {
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=video gpu plan --json
	assert_success
	python3 -c '
import json, sys
p = json.loads(sys.argv[1])
assert p["active"] and p["driver"] == "550.54.14" and p["capabilities"] == "video", p
assert [g["minor"] for g in p["gpus"]] == [1, 0], p["gpus"]
libs = [m["target"].rsplit("/", 1)[1] for m in p["mounts"] if m["kind"] == "lib"]
assert "libnvcuvid.so.550.54.14" in libs and "libcuda.so.550.54.14" in libs, libs
assert not any("encode" in l for l in libs), libs
assert any("libnvidia-encode.so.545.23.08" in w for w in p["warnings"]), p["warnings"]
assert not any(m["target"].startswith("/usr/bin/") for m in p["mounts"]), p["mounts"]
' "$output"
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=void gpu plan --json
	assert_success
	assert_output_eq '{"active": false}'
	# A legacy CUDA image without NVIDIA_VISIBLE_DEVICES: no GPU work at start, as in enroot.
	run --separate-stderr gpu CUDA_VERSION=10.2.89 gpu plan --json
	assert_success
	assert_output_eq '{"active": false}'
	create_gpu
	run --separate-stderr gpu CUDA_VERSION=10.2.89 start gpu ls /dev
	assert_success
	assert_output_not_contains nvidia
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_CUDA="driver>=600" gpu plan
	assert_failure
	[[ $stderr == *"unsatisfied condition: driver>=600"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all CAPSA_NVIDIA_LDCACHE=/dev/null gpu plan
	assert_failure
	[[ $stderr == *"ld cache '/dev/null'"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all CAPSA_NVIDIA_PROC_ROOT="$T" gpu plan
	assert_failure
	[[ $stderr == *"NVIDIA kernel module is not loaded"* ]] || { echo "$stderr" >&2; false; }
}

@test "gpu smoke program: against the stub it sees the driver and no device" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all start gpu gpusmoke
	assert_status 1
	assert_line_eq "driver CUDA version 12.4"
	assert_line_eq "cuInit -> 100 (?)" # the stub has no cuGetErrorName
}

# Only on a machine with an NVIDIA GPU and driver: the real driver, the
# default settings, a real context and allocation (gpu.md §6.5).
@test "gpu smoke program on a real GPU (skipped without one)" {
	[ -r /proc/driver/nvidia/version ] && [ -e /dev/nvidiactl ] || skip "no NVIDIA GPU on this machine"
	create_gpu
	run --separate-stderr capsa_env CAPSA_RESTRICT_DEV=y NVIDIA_VISIBLE_DEVICES=all start gpu gpusmoke
	echo "$output" >&3
	assert_success
	assert_output_contains "cuMemAlloc_v2 -> 0"
}

# --- NVML (tests/fixtures/fakenvml.c, answering from $G/fake/nvml.conf) ---

NVML_LIB=libnvidia-ml.so.550.54.14

# nvml_fixture LINE...: a fixture file for FAKE_NVML_FIXTURE, in $NF.
nvml_fixture() {
	NF=$WORK/nvml.conf
	printf '%s\n' "$@" >"$NF"
	chmod 0644 "$NF"
}

@test "gpu nvml: loaded only when needed; a crashing, failing, hanging or missing NVML is a clear error, capsa survives" {
	local need="the requirement 'arch>=8.0' (NVIDIA_REQUIRE_*) needs NVML"
	local lib="NVML ($G/fake/root$LIBDIR/$NVML_LIB)"
	local hint="(NVIDIA_DISABLE_REQUIRE=1 skips the requirements)"
	nvml_fixture crash
	# Nothing in the request needs NVML: the crashing one is never loaded.
	run --separate-stderr gpu FAKE_NVML_FIXTURE="$NF" NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_CUDA='cuda>=12.0' gpu plan
	assert_success
	# A CUDA image's requirement names a brand, but its first term holds on
	# this driver (CUDA 12.4): the brand cannot change the outcome.
	create_gpu
	run --separate-stderr gpu FAKE_NVML_FIXTURE="$NF" NVIDIA_VISIBLE_DEVICES=all \
		NVIDIA_REQUIRE_CUDA='cuda>=12.4 brand=tesla,driver>=470,driver<471' start gpu true
	assert_success
	# On an older driver than the image wants, the brand decides: NVML it is.
	run --separate-stderr gpu FAKE_NVML_FIXTURE="$NF" NVIDIA_VISIBLE_DEVICES=all \
		NVIDIA_REQUIRE_CUDA='cuda>=12.8 brand=tesla,driver>=550,driver<551' gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] the requirement 'cuda>=12.8 brand=tesla,driver>=550,driver<551' (NVIDIA_REQUIRE_*) needs NVML: $lib failed: the helper process was killed by signal 6 $hint" ] ||
		{ echo "$stderr" >&2; false; }
	run --separate-stderr gpu FAKE_NVML_FIXTURE="$NF" NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_X='arch>=8.0' gpu plan
	assert_status 1
	assert_output_eq ""
	[ "$stderr" = "[ERROR] $need: $lib failed: the helper process was killed by signal 6 $hint" ] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu FAKE_NVML_FIXTURE="$NF" NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_X='arch>=8.0' \
		NVIDIA_DISABLE_REQUIRE=1 gpu plan
	assert_success
	nvml_fixture fail
	run --separate-stderr gpu FAKE_NVML_FIXTURE="$NF" NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_X='arch>=8.0' gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] $need: $lib: nvmlInit_v2: Driver/library version mismatch $hint" ] || { echo "$stderr" >&2; false; }
	# A hanging NVML is killed after 5 s.
	nvml_fixture hang
	SECONDS=0
	run --separate-stderr gpu FAKE_NVML_FIXTURE="$NF" NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_X='arch>=8.0' gpu plan
	assert_status 1
	[ "$SECONDS" -lt 9 ] || { echo "took $SECONDS s" >&2; false; }
	[ "$stderr" = "[ERROR] $need: $lib did not answer within 5 s (killed) $hint" ] || { echo "$stderr" >&2; false; }
	# A start fails the same way, before anything is mounted.
	run --separate-stderr gpu FAKE_NVML_FIXTURE="$NF" NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_X='arch>=8.0' start gpu true
	assert_failure
	[[ $stderr == *"$need: $lib did not answer within 5 s (killed)"* ]] || { echo "$stderr" >&2; false; }
	# The ld cache lists NVML but the driver root lacks the file.
	local drv=$WORK/drv
	cp -a "$G/fake/root" "$drv"
	rm -f "$drv$LIBDIR"/libnvidia-ml.so*
	run --separate-stderr gpu CAPSA_NVIDIA_DRIVER_ROOT="$drv" NVIDIA_VISIBLE_DEVICES=all \
		NVIDIA_DRIVER_CAPABILITIES=compute NVIDIA_REQUIRE_X='arch>=8.0' gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] $need: libnvidia-ml.so.1 not found in the driver root's ld cache '$drv/etc/ld.so.cache' $hint" ] ||
		{ echo "$stderr" >&2; false; }
}

@test "gpu: NVIDIA_REQUIRE_* arch and brand hold per selected GPU with NVML's values, or fail naming the GPU" {
	local g0="GPU 0 (00000000:3b:00.0, Tesla, arch 8.0)" g1="GPU 1 (00000000:86:00.0, Tesla, arch 9.0)"
	# Index 1 (minor 0) is arch 9.0 in the fixture, index 0 is 8.0.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1 NVIDIA_REQUIRE_ARCH='arch>=9.0' gpu plan
	assert_success
	assert_line_eq "dev /dev/nvidia0 $G/fake/dev/nvidia0"
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_ARCH='arch>=9.0' gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] requirement error: $g0: unsatisfied condition: arch>=9.0" ] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_REQUIRE_ARCH='arch<9' gpu plan
	assert_success
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1 NVIDIA_REQUIRE_ARCH='arch=8.0' gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] requirement error: $g1: unsatisfied condition: arch=8.0" ] || { echo "$stderr" >&2; false; }
	# brand: case-insensitive; an OR of terms.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_BRAND='brand=geforce brand=TESLA' gpu plan
	assert_success
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_BRAND='brand=geforce brand=quadro' gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] requirement error: $g0: unsatisfied condition: brand=geforce" ] || { echo "$stderr" >&2; false; }
	# A CUDA image's requirement: forward compatibility on a Tesla of an R550 branch.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all \
		NVIDIA_REQUIRE_CUDA='cuda>=12.8 brand=tesla,driver>=550,driver<551' gpu plan
	assert_success
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all \
		NVIDIA_REQUIRE_CUDA='cuda>=12.8 brand=geforce,driver>=550,driver<551' gpu plan
	assert_status 1
	[[ $stderr == *"$g0: unsatisfied condition: cuda>=12.8, please update your driver"* ]] || { echo "$stderr" >&2; false; }
	# none: no GPU to check arch against, so it holds.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=none NVIDIA_REQUIRE_ARCH='arch>=99' gpu plan
	assert_success
	# A start refuses before anything is injected; NVIDIA_DISABLE_REQUIRE skips.
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_ARCH='arch>=9.0' start gpu true
	assert_failure
	[[ $stderr == *"requirement error: $g0: unsatisfied condition: arch>=9.0"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_ARCH='arch>=9.0' NVIDIA_DISABLE_REQUIRE=1 \
		start gpu sh -c 'cd /dev && echo nvidia[0-9]*'
	assert_success
	assert_output_eq "nvidia0 nvidia1"
}

# --- MIG: index 1 (minor 0) has MIG devices 1:0 (gi1/ci0, caps 12, 13) and
# 1:1 (gi2/ci0, caps 21, 22) in the fixture ---

MIG1=MIG-c0ffee00-0000-4000-8000-000000000001
MIG2=MIG-c0ffee00-0000-4000-8000-000000000002
CAPS=/proc/driver/nvidia/capabilities

# The container's /proc is the fake proc root (the host has no driver).
fake_container_proc() { sed -i "s|^/proc |$G/fake/proc |" "$SYSCONF/mounts.d/10-system.fstab"; }

@test "gpu mig: MIG-<uuid> and g:m bring the parent's node and the GI/CI caps nodes; /proc shows only their access files" {
	create_gpu
	fake_container_proc
	for id in "$MIG2" "$(tr a-z A-Z <<<"$MIG2")" 1:1; do
		run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES="$id" start gpu sh -c \
			"cd /dev && echo nvidia[0-9]* nvidia-caps/*; ls $CAPS $CAPS/gpu0/mig $CAPS/gpu0/mig/gi2;
			 cat $CAPS/gpu0/mig/gi2/ci0/access; ls /proc/driver/nvidia/gpus;
			 (echo x >$CAPS/gpu0/mig/gi2/ci0/access) 2>/dev/null || echo read-only"
		assert_success
		assert_line_eq "nvidia0 nvidia-caps/nvidia-cap21 nvidia-caps/nvidia-cap22"
		assert_line_eq gpu0
		assert_line_eq gi2
		assert_line_eq "DeviceFileMinor: 22"
		assert_line_eq "0000:86:00.0"
		assert_output_not_contains gi1
		assert_output_not_contains "0000:3b:00.0"
		assert_line_eq read-only
	done
	sed -i "s|^$G/fake/proc |/proc |" "$SYSCONF/mounts.d/10-system.fstab"
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1:1 start gpu grep nvidia-cap21 /proc/self/mountinfo
	assert_success
	[[ $output == *"/dev/nvidia-caps/nvidia-cap21 ro,nosuid,noexec"* ]] || { echo "caps flags: $output" >&2; false; }
	# Two MIG devices of one GPU and the GPU itself: the parent once.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES="1:0,$MIG2,1" start gpu sh -c 'cd /dev && echo nvidia[0-9]* nvidia-caps/*'
	assert_success
	assert_output_eq "nvidia0 nvidia-caps/nvidia-cap12 nvidia-caps/nvidia-cap13 nvidia-caps/nvidia-cap21 nvidia-caps/nvidia-cap22"
	# The whole GPU alone: its node, no caps (as the toolkit).
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1 start gpu sh -c 'cd /dev && echo nvidia[0-9]* nvidia-caps'
	assert_success
	assert_output_eq "nvidia0 nvidia-caps"
}

@test "gpu mig: all brings every GPU and every MIG device the driver lists (no NVML needed)" {
	create_gpu
	nvml_fixture crash # never loaded for all
	run --separate-stderr gpu FAKE_NVML_FIXTURE="$NF" NVIDIA_VISIBLE_DEVICES=all start gpu sh -c 'cd /dev && echo nvidia[0-9]* nvidia-caps/*'
	assert_success
	assert_output_eq "nvidia0 nvidia1 nvidia-caps/nvidia-cap12 nvidia-caps/nvidia-cap13 nvidia-caps/nvidia-cap21 nvidia-caps/nvidia-cap22"
	# A caps node this user cannot have: that MIG device is left out, with a warning.
	cp -a "$G/fake/dev" "$WORK/dev"
	rm "$WORK/dev/nvidia-caps/nvidia-cap13"
	run --separate-stderr gpu CAPSA_NVIDIA_DEV_ROOT="$WORK/dev" NVIDIA_VISIBLE_DEVICES=all start gpu sh -c 'cd /dev && echo nvidia[0-9]* nvidia-caps/*'
	assert_success
	assert_output_eq "nvidia0 nvidia1 nvidia-caps/nvidia-cap12 nvidia-caps/nvidia-cap21 nvidia-caps/nvidia-cap22"
	[[ $stderr == *"GPU device $WORK/dev/nvidia-caps/nvidia-cap13: cannot open: No such file or directory (ENOENT)"* ]] ||
		{ echo "$stderr" >&2; false; }
	run --separate-stderr gpu FAKE_NVML_FIXTURE="$NF" NVIDIA_VISIBLE_DEVICES=all gpu plan
	assert_success
	assert_line_eq "cap /dev/nvidia-caps/nvidia-cap13 $G/fake/dev/nvidia-caps/nvidia-cap13 (optional)"
	assert_line_eq "mig 1:0 - gi 1 ci 0 /dev/nvidia0"
	assert_line_eq "mig 1:1 - gi 2 ci 0 /dev/nvidia0"
	assert_line_eq "proc /proc/driver/nvidia/capabilities/gpu0/mig/gi2/ci0/access"
	assert_line_eq "cap /dev/nvidia-caps/nvidia-cap22 $G/fake/dev/nvidia-caps/nvidia-cap22 (optional)"
	# With NVML (a MIG id), the plan names the MIG device's UUID; JSON too.
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1:0 gpu plan --json
	assert_success
	python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["migs"] == [{"gpu": 1, "index": 0, "uuid": sys.argv[2], "gi": 1, "ci": 0, "parent": "/dev/nvidia0"}], d["migs"]
assert d["proc"] == ["/proc/driver/nvidia/capabilities/gpu0/mig/gi1/access",
                     "/proc/driver/nvidia/capabilities/gpu0/mig/gi1/ci0/access"], d["proc"]
caps = [m["target"] for m in d["mounts"] if m["kind"] == "cap"]
assert caps == ["/dev/nvidia-caps/nvidia-cap12", "/dev/nvidia-caps/nvidia-cap13"], caps
assert [g["minor"] for g in d["gpus"]] == [0], d["gpus"]' "$output" "$MIG1"
}

@test "gpu mig: unknown MIG devices, a GPU not in MIG mode, a missing caps node are errors naming them" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=MIG-deadbeef start gpu true
	assert_failure
	[[ $stderr == *"device error: 'MIG-deadbeef': unknown MIG device"* ]] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1:5 gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] device error: '1:5': unknown MIG device" ] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0:0 gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] device error: '0:0': GPU 0 is not in MIG mode" ] || { echo "$stderr" >&2; false; }
	# Without NVML a MIG id cannot be resolved: say why.
	cp -a "$G/fake/root" "$WORK/drv"
	rm -f "$WORK/drv$LIBDIR"/libnvidia-ml.so*
	run --separate-stderr gpu CAPSA_NVIDIA_DRIVER_ROOT="$WORK/drv" NVIDIA_DRIVER_CAPABILITIES=compute NVIDIA_VISIBLE_DEVICES=1:0 gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] the MIG device '1:0' (NVIDIA_VISIBLE_DEVICES) needs NVML: libnvidia-ml.so.1 not found in the driver root's ld cache '$WORK/drv/etc/ld.so.cache'" ] ||
		{ echo "$stderr" >&2; false; }
	# A caps node missing on the host: the ENOENT diagnostic names it.
	cp -a "$G/fake/dev" "$WORK/dev"
	rm "$WORK/dev/nvidia-caps/nvidia-cap22"
	run --separate-stderr gpu CAPSA_NVIDIA_DEV_ROOT="$WORK/dev" NVIDIA_VISIBLE_DEVICES="$MIG2" start gpu true
	assert_failure
	[[ $stderr == *"GPU device $WORK/dev/nvidia-caps/nvidia-cap22: cannot open: No such file or directory (ENOENT)"* ]] ||
		{ echo "$stderr" >&2; false; }
}

@test "gpu mig: NVIDIA_MIG_CONFIG/MONITOR_DEVICES=all needs the root-only caps nodes: a clear error for a user" {
	[ "$TUID" -ne 0 ] || skip "root opens the root-only caps"
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1 NVIDIA_MIG_CONFIG_DEVICES=all start gpu true
	assert_failure
	[[ $stderr == *"NVIDIA_MIG_CONFIG_DEVICES: MIG config/monitor requires access to /dev/nvidia-caps/nvidia-cap1 (root-only on this host)"* ]] ||
		{ echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1 NVIDIA_MIG_MONITOR_DEVICES=all start gpu true
	assert_failure
	[[ $stderr == *"NVIDIA_MIG_MONITOR_DEVICES: MIG config/monitor requires access to /dev/nvidia-caps/nvidia-cap2 (root-only on this host)"* ]] ||
		{ echo "$stderr" >&2; false; }
}

@test "gpu mig: MIG config/monitor: only all, not with MIG devices; the plan has the caps, /dev/nvidia-caps and capabilities" {
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1 NVIDIA_MIG_CONFIG_DEVICES=0 gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] NVIDIA_MIG_CONFIG_DEVICES='0': only 'all' is supported" ] || { echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES="$MIG1" NVIDIA_MIG_MONITOR_DEVICES=all gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] NVIDIA_MIG_MONITOR_DEVICES=all cannot be combined with MIG devices in NVIDIA_VISIBLE_DEVICES (1:0): select whole GPUs" ] ||
		{ echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=1 NVIDIA_MIG_CONFIG_DEVICES=all NVIDIA_MIG_MONITOR_DEVICES=all gpu plan
	assert_success
	assert_line_eq "devdir /dev/nvidia-caps $G/fake/dev/nvidia-caps"
	assert_line_eq "cap /dev/nvidia-caps/nvidia-cap1 $G/fake/dev/nvidia-caps/nvidia-cap1"
	assert_line_eq "cap /dev/nvidia-caps/nvidia-cap2 $G/fake/dev/nvidia-caps/nvidia-cap2"
	assert_line_eq "proc /proc/driver/nvidia/capabilities"
}

@test "gpu mig: as root, MIG config brings the config cap, the host's /dev/nvidia-caps and all of capabilities" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	fake_container_proc
	run --separate-stderr capsa_as_root create -n rootgpu "$G/gpu.sqsh"
	assert_success
	run --separate-stderr capsa_as_root CAPSA_ALLOW_SUPERUSER=y CAPSA_RESTRICT_DEV=y \
		CAPSA_NVIDIA_DRIVER_ROOT="$G/fake/root" CAPSA_NVIDIA_PROC_ROOT="$G/fake/proc" CAPSA_NVIDIA_DEV_ROOT="$G/fake/dev" \
		NVIDIA_VISIBLE_DEVICES=1 NVIDIA_MIG_CONFIG_DEVICES=all start rootgpu sh -c \
		"ls /dev/nvidia-caps $CAPS $CAPS/mig; cat $CAPS/mig/config"
	assert_success
	assert_line_eq nvidia-cap1
	assert_line_eq nvidia-cap21
	assert_line_eq gpu0
	assert_line_eq monitor
	assert_line_eq "DeviceFileMinor: 1"
}

@test "gpu imex: NVIDIA_IMEX_CHANNELS binds the named existing channels (or all); a missing one is an error; none without it" {
	create_gpu
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_IMEX_CHANNELS=1 start gpu sh -c \
		'ls /dev/nvidia-caps-imex-channels; grep imex /proc/self/mountinfo'
	assert_success
	assert_line_eq channel1
	assert_output_not_contains channel0
	[[ $output == *"/dev/nvidia-caps-imex-channels/channel1 ro,nosuid,noexec"* ]] || { echo "$output" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=none NVIDIA_IMEX_CHANNELS=all start gpu sh -c 'cd /dev/nvidia-caps-imex-channels && echo *'
	assert_success
	assert_output_eq "channel0 channel1"
	# compute without the variable: no channel (the toolkit's choice, not enroot's directory bind).
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_DRIVER_CAPABILITIES=compute start gpu sh -c 'ls -d /dev/nvidia-caps-imex-channels || echo none'
	assert_success
	assert_output_eq none
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_IMEX_CHANNELS=0,7 start gpu true
	assert_failure
	[[ $stderr == *"NVIDIA_IMEX_CHANNELS: the IMEX channel $G/fake/dev/nvidia-caps-imex-channels/channel7 does not exist (capsa never creates device nodes"* ]] ||
		{ echo "$stderr" >&2; false; }
	run --separate-stderr gpu NVIDIA_VISIBLE_DEVICES=0 NVIDIA_IMEX_CHANNELS=x gpu plan
	assert_status 1
	[ "$stderr" = "[ERROR] NVIDIA_IMEX_CHANNELS: 'x' is not a channel number (0-65535) or 'all'" ] || { echo "$stderr" >&2; false; }
}
