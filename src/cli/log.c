/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"

static void vlog(const char *tag, const char *color, const char *fmt, va_list ap)
{
	static int tty = -1;

	if (tty < 0)
		tty = isatty(2);
	if (tty)
		fprintf(stderr, "\033[%sm[%s]\033[0m ", color, tag);
	else
		fprintf(stderr, "[%s] ", tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("INFO", "94", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("WARN", "33", fmt, ap);
	va_end(ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("ERROR", "31", fmt, ap);
	va_end(ap);
}

int cli_fail(const struct error *err)
{
	log_error("%s", err->msg[0] ? err->msg : "unknown error");
	return 1;
}
