/* The text released to clients: stop strings cut exactly, held while they may still match,
 * and UTF-8 characters never split. */
#include "base/buf.h"
#include "check.h"
#include "engine/textout.h"

#include <stdlib.h>

/* Feeds pieces one by one, collecting what is released after each. */
static char *run(char *const *stops, int n_stops, const char *const *pieces, int n, int *stopped)
{
    struct textout t;
    textout_init(&t, stops, n_stops);
    struct buf out;
    buf_init(&out, 0);
    *stopped = 0;
    for (int i = 0; i < n && !*stopped; i++) {
        *stopped = textout_feed(&t, pieces[i], strlen(pieces[i]));
        size_t len;
        const char *r = textout_ready(&t, &len);
        buf_append(&out, r, len);
        textout_clear_ready(&t);
    }
    textout_finish(&t);
    size_t len;
    const char *r = textout_ready(&t, &len);
    buf_append(&out, r, len);
    textout_free(&t);
    if (!out.data)
        buf_puts(&out, "");
    return buf_steal(&out);
}

int main(void)
{
    int stopped;
    char *s;

    /* No stops: everything passes through. */
    const char *p1[] = {"Once", " upon", " a", " time"};
    s = run(NULL, 0, p1, 4, &stopped);
    CHECK_STR(s, "Once upon a time");
    CHECK(!stopped);
    free(s);

    /* A stop string spanning tokens is cut exactly, and nothing after it appears. */
    char *stops[] = {"a ti", "zzz"};
    s = run(stops, 2, p1, 4, &stopped);
    CHECK_STR(s, "Once upon ");
    CHECK(stopped);
    free(s);

    /* A partial match that turns out not to be one is released, not lost. */
    char *stops2[] = {"upon a dog"};
    s = run(stops2, 1, p1, 4, &stopped);
    CHECK_STR(s, "Once upon a time");
    CHECK(!stopped);
    free(s);

    /* Text is held while it may begin a stop string. */
    {
        struct textout t;
        char *st[] = {"STOP"};
        textout_init(&t, st, 1);
        textout_feed(&t, "abcST", 5);
        size_t len;
        const char *r = textout_ready(&t, &len);
        CHECK(len == 3 && memcmp(r, "abc", 3) == 0);
        textout_clear_ready(&t);
        CHECK(textout_feed(&t, "OPxyz", 5));
        (void)textout_ready(&t, &len);
        CHECK(len == 0);
        textout_free(&t);
    }

    /* A stop string at the very start releases nothing. */
    char *stops3[] = {"Once"};
    s = run(stops3, 1, p1, 4, &stopped);
    CHECK_STR(s, "");
    CHECK(stopped);
    free(s);

    /* "日本" as single bytes: nothing is released until each character is complete. */
    {
        struct textout t;
        textout_init(&t, NULL, 0);
        const char *bytes = "\xE6\x97\xA5\xE6\x9C\xAC";
        size_t len;
        for (int i = 0; i < 6; i++) {
            textout_feed(&t, bytes + i, 1);
            textout_ready(&t, &len);
            CHECK(len == (i < 2 ? 0 : i < 5 ? 3 : 6));
        }
        const char *r = textout_ready(&t, &len);
        CHECK(len == 6 && memcmp(r, bytes, 6) == 0);
        textout_free(&t);
    }

    /* Invalid bytes become U+FFFD; an incomplete character at the end does too. */
    const char *p2[] = {"a\xFF", "b", "\xE6\x97"};
    s = run(NULL, 0, p2, 3, &stopped);
    CHECK_STR(s, "a\xEF\xBF\xBD"
                 "b\xEF\xBF\xBD");
    free(s);

    /* An overlong encoding and a surrogate are invalid. */
    const char *p3[] = {"\xC0\xAF", "\xED\xA0\x80", "ok"};
    s = run(NULL, 0, p3, 3, &stopped);
    CHECK(strstr(s, "ok") != NULL);
    CHECK(strstr(s, "\xC0") == NULL && strstr(s, "\xED\xA0") == NULL);
    free(s);

    /* A multi-byte stop string split inside a character. */
    char *stops4[] = {"本"};
    const char *p4[] = {"日", "\xE6\x9C", "\xAC", "語"};
    s = run(stops4, 1, p4, 4, &stopped);
    CHECK_STR(s, "日");
    CHECK(stopped);
    free(s);

    return check_done("test_textout");
}
