/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/progress.h"
#include "util/xalloc.h"

#define BAR_WIDTH 30
#define REDRAW_MS 100

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void progress_init(struct progress *p, bool quiet)
{
	memset(p, 0, sizeof(*p));
	p->enabled = !quiet && isatty(2);
}

size_t progress_add(struct progress *p, const char *label, uint64_t total)
{
	p->rows = xrealloc(p->rows, (p->n + 1) * sizeof(*p->rows));
	memset(&p->rows[p->n], 0, sizeof(p->rows[p->n]));
	snprintf(p->rows[p->n].label, sizeof(p->rows[p->n].label), "%s", label);
	p->rows[p->n].total = total;
	return p->n++;
}

static const char *human(uint64_t n, char buf[16])
{
	if (n >= (1u << 30))
		snprintf(buf, 16, "%.2f GiB", n / 1073741824.0);
	else if (n >= (1u << 20))
		snprintf(buf, 16, "%.1f MiB", n / 1048576.0);
	else
		snprintf(buf, 16, "%.0f KiB", n / 1024.0);
	return buf;
}

static void draw_row(const struct progress_row *r)
{
	unsigned pct = r->total ? (unsigned)(r->done >= r->total ? 100 : r->done * 100 / r->total) : 0;
	unsigned fill = pct * BAR_WIDTH / 100;
	char bar[BAR_WIDTH + 1], done[16], total[16];

	memset(bar, '#', fill);
	memset(bar + fill, ' ', BAR_WIDTH - fill);
	bar[BAR_WIDTH] = '\0';
	fprintf(stderr, "\r\033[K%-16s [%s] %3u%%  %s / %s\n", r->label, bar, pct, human(r->done, done),
		human(r->total, total));
}

static void draw(struct progress *p)
{
	if (p->drawn > 0)
		fprintf(stderr, "\033[%zuA", p->drawn);
	for (size_t i = 0; i < p->n; i++)
		draw_row(&p->rows[i]);
	p->drawn = p->n;
	fflush(stderr);
	p->last_ms = now_ms();
}

void progress_set(struct progress *p, size_t row, uint64_t done, uint64_t total)
{
	if (row >= p->n)
		return;
	p->rows[row].done = done;
	p->rows[row].total = total;
	if (p->enabled && now_ms() - p->last_ms >= REDRAW_MS)
		draw(p);
}

void progress_clear(struct progress *p)
{
	if (!p->enabled || p->drawn == 0)
		return;
	fprintf(stderr, "\033[%zuA\r\033[J", p->drawn);
	p->drawn = 0;
	p->last_ms = 0;
}

void progress_end(struct progress *p)
{
	if (p->enabled && p->n > 0)
		draw(p);
	free(p->rows);
	p->rows = NULL;
	p->n = p->drawn = 0;
}
