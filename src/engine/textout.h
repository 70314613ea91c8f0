/* Turns the byte pieces of generated tokens into text that is safe to stream.
 *
 * Two things can only be decided later than the token that produced the bytes:
 *  - a UTF-8 character split across tokens: its first bytes are held until it is complete;
 *    bytes that can never form a valid character are replaced with U+FFFD;
 *  - a stop string: text that could be the start of one is held until the next bytes show it is
 *    not. When a stop string matches, the text before it is released and nothing after it.
 *
 * Usage: textout_init with the stop strings, then textout_feed per token piece; each call
 * releases zero or more bytes (textout_take). textout_finish releases what is held at the end.
 * Single-threaded; the struct owns copies of the stop strings.
 */
#ifndef HEARTH_ENGINE_TEXTOUT_H
#define HEARTH_ENGINE_TEXTOUT_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct textout {
    char **stops;
    int n_stops;
    size_t max_stop_len;
    struct buf pending; /* validated text not yet released (could start a stop string) */
    struct buf raw;     /* bytes of an incomplete UTF-8 character */
    struct buf ready;   /* released text, for the caller to take */
    bool stopped;
    int stop_index; /* which stop string matched, or -1 */
};

void textout_init(struct textout *t, char *const *stops, int n_stops);
void textout_free(struct textout *t);

/* Adds the bytes of one token. Returns true once a stop string has matched (later calls add
 * nothing). */
bool textout_feed(struct textout *t, const char *bytes, size_t n);

/* Releases everything still held (an incomplete character becomes U+FFFD). */
void textout_finish(struct textout *t);

/* The released text so far; the caller copies it and then calls textout_clear_ready. */
static inline const char *textout_ready(const struct textout *t, size_t *len)
{
    *len = t->ready.len;
    return t->ready.data ? t->ready.data : "";
}
void textout_clear_ready(struct textout *t);

#endif
