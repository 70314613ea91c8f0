#include "base/utf8.h"

#include "base/buf.h"

static int seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

/* Whether c may follow lead (excludes overlongs, surrogates, and code points past U+10FFFF). */
static int second_ok(unsigned char lead, unsigned char c)
{
    if ((c & 0xC0) != 0x80)
        return 0;
    if (lead == 0xE0)
        return c >= 0xA0;
    if (lead == 0xED)
        return c <= 0x9F;
    if (lead == 0xF0)
        return c >= 0x90;
    if (lead == 0xF4)
        return c <= 0x8F;
    return 1;
}

int utf8_seq(const unsigned char *s, size_t n)
{
    int l = seq_len(s[0]);
    if (l == 0)
        return 0;
    for (int i = 1; i < l; i++) {
        if ((size_t)i >= n)
            return -1;
        if (i == 1 ? !second_ok(s[0], s[1]) : (s[i] & 0xC0) != 0x80)
            return 0;
    }
    return l;
}

char *utf8_sanitize(const char *s, size_t n)
{
    struct buf b;
    buf_init(&b, 0);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int l = utf8_seq(u + i, n - i);
        if (l > 0) {
            buf_append(&b, u + i, (size_t)l);
            i += (size_t)l;
        } else {
            buf_append(&b, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    return buf_steal(&b);
}

size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

uint32_t utf8_get(const char *p, size_t n, size_t *i)
{
    const unsigned char *s = (const unsigned char *)p;
    unsigned char ch = s[*i];
    int len = ch < 0x80 ? 1 : (ch >> 5) == 6 ? 2 : (ch >> 4) == 14 ? 3 : (ch >> 3) == 30 ? 4 : 1;
    if (*i + (size_t)len > n)
        len = 1;
    uint32_t cp = len == 1 ? ch : (uint32_t)(ch & (0x7f >> len));
    for (int k = 1; k < len; k++)
        cp = (cp << 6) | (s[*i + (size_t)k] & 0x3f);
    *i += (size_t)len;
    return cp;
}
