/* UTF-8 validation and encoding. */
#ifndef HEARTH_BASE_UTF8_H
#define HEARTH_BASE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Checks the sequence at s (n bytes available): returns its length (1-4) when it is a complete
 * valid character, 0 when it is invalid (a stray continuation byte, an overlong form, a
 * surrogate, past U+10FFFF), -1 when it is a valid but incomplete prefix. n must be > 0. */
int utf8_seq(const unsigned char *s, size_t n);

/* A malloc'd NUL-terminated copy of s[0..n) with every invalid or incomplete sequence replaced
 * by U+FFFD, so it can go into JSON. */
char *utf8_sanitize(const char *s, size_t n);

/* Reads the code point at s[*i] (n bytes in all) and moves *i past it. Lenient, as a renderer
 * needs: a stray or truncated byte is read as itself, one byte long. *i < n. */
uint32_t utf8_get(const char *s, size_t n, size_t *i);

/* Writes code point cp (at most U+10FFFF) as UTF-8 at out, which has room for 4 bytes; returns
 * the bytes written. */
size_t utf8_put(char *out, uint32_t cp);

#endif
