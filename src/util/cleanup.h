/* SPDX-License-Identifier: Apache-2.0 */
/* Scope-bound cleanup: every local resource is declared with its cleanup
 * and an inert value; ownership leaves only through TAKE_PTR / TAKE_FD. */
#ifndef CAPSA_UTIL_CLEANUP_H
#define CAPSA_UTIL_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void cleanup_fclosep(FILE **f)
{
	if (*f != NULL)
		fclose(*f);
}

static inline void cleanup_closedirp(DIR **d)
{
	if (*d != NULL)
		closedir(*d);
}

#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(cleanup_fclosep)))
#define _cleanup_closedir_ __attribute__((cleanup(cleanup_closedirp)))

#define TAKE_PTR(p)                                                                                          \
	({                                                                                                   \
		__typeof__(p) _tp = (p);                                                                     \
		(p) = NULL;                                                                                  \
		_tp;                                                                                         \
	})

#define TAKE_FD(fd)                                                                                          \
	({                                                                                                   \
		int _tf = (fd);                                                                              \
		(fd) = -1;                                                                                   \
		_tf;                                                                                         \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STRLEN(s) (sizeof(s) - 1)

#endif
