/* Logging: one logfmt line per event on stderr.
 *
 *   log_info("msg=\"loaded\" model=%s ms=%d", name, ms);
 *
 * prints `time=2026-11-26T06:40:01.123Z level=info msg="loaded" model=x ms=812`. The format
 * string supplies every field after `level`; values that may hold spaces or quotes go through
 * log_q(), which quotes and escapes them. Prompts and outputs are logged only at debug level,
 * secrets never. Safe to call from any thread; a line is written with a single write(2).
 */
#ifndef HEARTH_BASE_LOG_H
#define HEARTH_BASE_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR, LOG_LEVEL_OFF };

/* Sets the threshold; lines below it are dropped. The default is info, or HEARTH_LOG_LEVEL
 * (debug|info|warn|error|off) when log_init() has read it. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_init(void);

/* Tags every line with `comp=NAME` after the level (the worker uses comp=worker). */
void log_set_component(const char *name);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)

/* Quotes s for a logfmt value into one of a few rotating thread-local buffers (so several may
 * appear in one call); long values are cut at 200 bytes with "...". */
const char *log_q(const char *s);

#endif
