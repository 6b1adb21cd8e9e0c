/* SPDX-License-Identifier: Apache-2.0 */
/* Progress bars on stderr, one row per item, redrawn in place at most ten
 * times a second; silent when stderr is not a terminal or when quiet. */
#ifndef CAPSA_CLI_PROGRESS_H
#define CAPSA_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct progress_row {
	char label[48];
	uint64_t done, total;
};

struct progress {
	bool enabled;
	struct progress_row *rows;
	size_t n, drawn;
	uint64_t last_ms;
};

void progress_init(struct progress *p, bool quiet);
/* Add a row; returns its index. */
size_t progress_add(struct progress *p, const char *label, uint64_t total);
void progress_set(struct progress *p, size_t row, uint64_t done, uint64_t total);
/* Erase the rows (before a log line is printed below the text above them);
 * the next progress_set() draws them again. */
void progress_clear(struct progress *p);
/* Draw a last time (complete rows stay on screen) and free the rows. */
void progress_end(struct progress *p);

#endif
