#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level g_level = LOG_LEVEL_INFO;
static const char *g_component;

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level level)
{
    g_level = level;
}

enum log_level log_get_level(void)
{
    return g_level;
}

void log_set_component(const char *name)
{
    g_component = name;
}

void log_init(void)
{
    const char *v = getenv("HEARTH_LOG_LEVEL");
    if (!v)
        return;
    for (int i = 0; i <= LOG_LEVEL_OFF; i++)
        if (strcmp(v, level_names[i]) == 0)
            g_level = (enum log_level)i;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (level < g_level || g_level == LOG_LEVEL_OFF)
        return;
    char line[4096];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "time=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), level_names[level]);
    if (g_component)
        n += snprintf(line + n, sizeof line - (size_t)n, "comp=%s ", g_component);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m > 0 ? (size_t)m : 0);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

const char *log_q(const char *s)
{
    static _Thread_local char bufs[4][256];
    static _Thread_local int next;
    char *b = bufs[next++ & 3];
    size_t o = 0;
    b[o++] = '"';
    for (const char *p = s ? s : ""; *p && o < 200; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            b[o++] = '\\';
            b[o++] = (char)c;
        } else if (c == '\n') {
            b[o++] = '\\';
            b[o++] = 'n';
        } else if (c < 0x20) {
            b[o++] = '?';
        } else {
            b[o++] = (char)c;
        }
        if (o >= 200 && p[1]) {
            memcpy(b + o, "...", 3);
            o += 3;
            break;
        }
    }
    b[o++] = '"';
    b[o] = '\0';
    return b;
}
