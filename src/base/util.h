/* Allocation that aborts on failure, and small helpers every module uses.
 *
 * Small allocations abort on OOM (as Redis does): there is no sensible recovery from failing to
 * allocate a few hundred bytes, and checking every call hides the real error paths. Buffers that
 * input can grow are capped (see buf.h) so input can never drive us to that point.
 */
#ifndef HEARTH_BASE_UTIL_H
#define HEARTH_BASE_UTIL_H

#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Monotonic clock in microseconds. */
int64_t now_us(void);

/* The CLOCK_REALTIME time ms milliseconds from now, for pthread_cond_timedwait. */
struct timespec;
void deadline_after_ms(struct timespec *ts, int64_t ms);

/* Parses a whole string as a number; 0 on success, ERR_BAD_REQUEST when the string is empty,
 * has trailing characters, is out of range, or (for doubles) is NaN or infinite. */
int parse_i64(const char *s, int64_t *out);
int parse_double(const char *s, double *out);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
