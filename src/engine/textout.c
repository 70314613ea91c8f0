#include "engine/textout.h"

#include "base/utf8.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

/* Generated text is bounded by the context; the caps only stop a runaway. */
#define TEXTOUT_MAX (64u << 20)

static const char REPLACEMENT[] = "\xEF\xBF\xBD";

void textout_init(struct textout *t, char *const *stops, int n_stops)
{
    memset(t, 0, sizeof *t);
    t->stop_index = -1;
    t->stops = xcalloc((size_t)(n_stops > 0 ? n_stops : 1), sizeof(char *));
    for (int i = 0; i < n_stops; i++) {
        if (!stops[i] || !stops[i][0])
            continue;
        t->stops[t->n_stops++] = xstrdup(stops[i]);
        size_t l = strlen(stops[i]);
        if (l > t->max_stop_len)
            t->max_stop_len = l;
    }
    buf_init(&t->pending, TEXTOUT_MAX);
    buf_init(&t->raw, 16);
    buf_init(&t->ready, TEXTOUT_MAX);
}

void textout_free(struct textout *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_stops; i++)
        free(t->stops[i]);
    free(t->stops);
    buf_free(&t->pending);
    buf_free(&t->raw);
    buf_free(&t->ready);
}

void textout_clear_ready(struct textout *t)
{
    buf_reset(&t->ready);
}

/* Moves validated text from pending to ready, except what might still begin a stop string. */
static void release(struct textout *t, bool all)
{
    const char *p = t->pending.data;
    size_t n = t->pending.len;
    if (!n)
        return;
    /* A stop string anywhere in pending ends the output there. */
    size_t best = n;
    for (int i = 0; i < t->n_stops; i++) {
        const char *hit = memmem(p, n, t->stops[i], strlen(t->stops[i]));
        if (hit && (size_t)(hit - p) < best) {
            best = (size_t)(hit - p);
            t->stop_index = i;
        }
    }
    if (t->stop_index >= 0) {
        buf_append(&t->ready, p, best);
        buf_reset(&t->pending);
        t->stopped = true;
        return;
    }
    size_t keep = 0;
    if (!all) {
        /* The longest suffix of pending that is a proper prefix of some stop string. */
        for (int i = 0; i < t->n_stops; i++) {
            size_t sl = strlen(t->stops[i]);
            size_t maxk = sl - 1 < n ? sl - 1 : n;
            for (size_t k = maxk; k > keep; k--)
                if (memcmp(p + n - k, t->stops[i], k) == 0) {
                    keep = k;
                    break;
                }
        }
    }
    buf_append(&t->ready, p, n - keep);
    buf_consume(&t->pending, n - keep);
}

bool textout_feed(struct textout *t, const char *bytes, size_t n)
{
    if (t->stopped)
        return true;
    /* Complete the held character first, then validate the rest one character at a time. */
    struct buf in;
    buf_init(&in, 0);
    buf_append(&in, t->raw.data ? t->raw.data : "", t->raw.len);
    buf_append(&in, bytes, n);
    buf_reset(&t->raw);
    const unsigned char *s = (const unsigned char *)(in.data ? in.data : "");
    size_t len = in.len, i = 0;
    while (i < len) {
        int l = utf8_seq(s + i, len - i);
        if (l > 0) {
            buf_append(&t->pending, s + i, (size_t)l);
            i += (size_t)l;
        } else if (l < 0) {
            buf_append(&t->raw, s + i, len - i); /* incomplete: wait for the next token */
            break;
        } else {
            buf_append(&t->pending, REPLACEMENT, 3);
            i++;
        }
    }
    buf_free(&in);
    release(t, false);
    return t->stopped;
}

void textout_finish(struct textout *t)
{
    if (t->stopped)
        return;
    if (t->raw.len) {
        buf_append(&t->pending, REPLACEMENT, 3);
        buf_reset(&t->raw);
    }
    release(t, true);
}
