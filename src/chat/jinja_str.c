/* The Python methods templates call on strings, dicts and lists, and the string operations
 * they share with filters (case, strip, split, replace, str.format), as Python defines them. */
#include "chat/jinja_int.h"

#include "base/utf8.h"
#include "base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(list[i], name))
            return 1;
    return 0;
}

/* Upper or lower case of a code point, for the scripts chat text uses most: Latin-1, Latin
 * Extended-A, Greek and Cyrillic (Python maps all of Unicode; see README). */
static uint32_t case_map(uint32_t cp, int up)
{
    if (cp < 0x80) {
        if (up && cp >= 'a' && cp <= 'z')
            return cp - 32;
        if (!up && cp >= 'A' && cp <= 'Z')
            return cp + 32;
        return cp;
    }
    if (up) {
        if (cp >= 0xe0 && cp <= 0xfe && cp != 0xf7)
            return cp - 0x20;
        if (cp == 0xff)
            return 0x178;
        if (cp >= 0x100 && cp <= 0x17f && cp != 0x131 && cp != 0x138 && cp != 0x149 &&
            cp != 0x17f) {
            int odd_lower = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e);
            if (odd_lower ? (cp & 1) == 0 : (cp & 1) == 1)
                return cp - 1;
            return cp;
        }
        if (cp >= 0x3b1 && cp <= 0x3c9 && cp != 0x3c2)
            return cp - 0x20;
        if (cp == 0x3c2)
            return 0x3a3;
        if (cp >= 0x430 && cp <= 0x44f)
            return cp - 0x20;
        if (cp >= 0x450 && cp <= 0x45f)
            return cp - 0x50;
        return cp;
    }
    if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
        return cp + 0x20;
    if (cp == 0x178)
        return 0xff;
    if (cp >= 0x100 && cp <= 0x17f && cp != 0x130 && cp != 0x138 && cp != 0x149 && cp != 0x17f) {
        int odd_lower = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e);
        if (odd_lower ? (cp & 1) == 1 : (cp & 1) == 0)
            return cp + 1;
        return cp;
    }
    if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2)
        return cp + 0x20;
    if (cp >= 0x410 && cp <= 0x42f)
        return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40f)
        return cp + 0x50;
    return cp;
}

static int is_cased_letter(uint32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           (cp >= 0xc0 && cp <= 0x24f && cp != 0xd7 && cp != 0xf7) ||
           (cp >= 0x370 && cp <= 0x3ff) || (cp >= 0x400 && cp <= 0x4ff);
}

static void put_cp(char *o, size_t *j, uint32_t cp)
{
    *j += utf8_put(o + *j, cp);
}

struct jv jx_case(struct jctx *c, struct jv s, int mode)
{
    /* mode 'u' upper, 'l' lower, 'c' capitalize, 't' str.title(), 'j' jinja's title */
    char *o = jx_alloc(c, s.u.s.n * 2 + 1); /* a case never takes more than twice the bytes */
    size_t j = 0, i = 0;
    int word_start = 1, first = 1;
    while (i < s.u.s.n) {
        uint32_t cp = utf8_get(s.u.s.p, s.u.s.n, &i);
        int up;
        switch (mode) {
        case 'u': up = 1; break;
        case 'l': up = 0; break;
        case 'c': up = first; break;
        default: up = word_start; break;
        }
        if (mode == 'u' && cp == 0xdf) { /* ß */
            o[j++] = 'S';
            o[j++] = 'S';
        } else {
            put_cp(o, &j, case_map(cp, up));
        }
        first = 0;
        if (mode == 't')
            word_start = !is_cased_letter(cp);
        else if (mode == 'j')
            word_start = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' ||
                         cp == '\f' || cp == '-' || cp == '(' || cp == '{' || cp == '[' ||
                         cp == '<';
    }
    o[j] = '\0';
    return jv_strb(o, j);
}

int jx_is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f' ||
           ch == 0x1c || ch == 0x1d || ch == 0x1e || ch == 0x1f;
}

struct jv jx_strip(struct jv s, struct jv *chars, int left, int right)
{
    size_t a = 0, b = s.u.s.n;
    const char *p = s.u.s.p;
    if (chars && chars->k == JV_STR) {
        while (left && a < b && memchr(chars->u.s.p, p[a], chars->u.s.n))
            a++;
        while (right && b > a && memchr(chars->u.s.p, p[b - 1], chars->u.s.n))
            b--;
    } else {
        while (left && a < b && jx_is_space(p[a]))
            a++;
        while (right && b > a && jx_is_space(p[b - 1]))
            b--;
    }
    return jv_strb(p + a, b - a);
}

struct jv jx_replace(struct jctx *c, struct jv s, struct jv old, struct jv new, int64_t count)
{
    struct jsb b;
    jx_buf(c, &b);
    size_t i = 0;
    int64_t done = 0;
    if (!old.u.s.n) {
        /* Python inserts new between characters (and at both ends) */
        size_t k = 0;
        while (k <= s.u.s.n) {
            if (count < 0 || done < count) {
                jx_put(c, &b, new.u.s.p, new.u.s.n);
                done++;
            }
            if (k == s.u.s.n)
                break;
            size_t e = k + 1;
            while (e < s.u.s.n && ((unsigned char)s.u.s.p[e] & 0xc0) == 0x80)
                e++;
            jx_put(c, &b, s.u.s.p + k, e - k);
            k = e;
        }
        return jx_buf_str(c, &b);
    }
    while (i < s.u.s.n) {
        const char *hit = (count < 0 || done < count)
                              ? memmem(s.u.s.p + i, s.u.s.n - i, old.u.s.p, old.u.s.n)
                              : NULL;
        if (!hit) {
            jx_put(c, &b, s.u.s.p + i, s.u.s.n - i);
            break;
        }
        jx_put(c, &b, s.u.s.p + i, (size_t)(hit - (s.u.s.p + i)));
        jx_put(c, &b, new.u.s.p, new.u.s.n);
        i = (size_t)(hit - s.u.s.p) + old.u.s.n;
        done++;
    }
    return jx_buf_str(c, &b);
}

struct jv jx_split(struct jctx *c, int line, struct jv s, struct jv *sep, int64_t maxsplit,
                   int from_right)
{
    struct jv out = jv_list(c, 0);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    if (!sep || sep->k == JV_NONE) {
        /* runs of whitespace; no empty strings */
        struct jv parts = jv_list(c, 0);
        size_t i = 0;
        while (i < n) {
            while (i < n && jx_is_space(p[i]))
                i++;
            if (i >= n)
                break;
            size_t st = i;
            while (i < n && !jx_is_space(p[i]))
                i++;
            jl_push(c, parts.u.l, jv_strb(p + st, i - st));
        }
        if (maxsplit < 0 || (size_t)maxsplit + 1 >= parts.u.l->n)
            return parts;
        /* re-split with the limit: keep the rest of the string whole */
        size_t k = 0;
        i = 0;
        if (!from_right) {
            while (k < (size_t)maxsplit) {
                while (i < n && jx_is_space(p[i]))
                    i++;
                size_t st = i;
                while (i < n && !jx_is_space(p[i]))
                    i++;
                jl_push(c, out.u.l, jv_strb(p + st, i - st));
                k++;
            }
            while (i < n && jx_is_space(p[i]))
                i++;
            size_t e = n;
            while (e > i && jx_is_space(p[e - 1]))
                e--;
            jl_push(c, out.u.l, jv_strb(p + i, e - i));
            return out;
        }
        return parts;
    }
    if (sep->k != JV_STR)
        jx_fail(c, line, "must be str or None, not %s", jv_type_name(*sep));
    if (!sep->u.s.n)
        jx_fail(c, line, "empty separator");
    if (from_right && maxsplit >= 0) {
        struct jv rev = jv_list(c, 0);
        size_t e = n;
        int64_t k = 0;
        while (k < maxsplit) {
            const char *hit = NULL;
            for (size_t j = e; j >= sep->u.s.n; j--)
                if (!memcmp(p + j - sep->u.s.n, sep->u.s.p, sep->u.s.n)) {
                    hit = p + j - sep->u.s.n;
                    break;
                }
            if (!hit)
                break;
            size_t st = (size_t)(hit - p) + sep->u.s.n;
            jl_push(c, rev.u.l, jv_strb(p + st, e - st));
            e = (size_t)(hit - p);
            k++;
        }
        jl_push(c, out.u.l, jv_strb(p, e));
        for (size_t j = rev.u.l->n; j > 0; j--)
            jl_push(c, out.u.l, rev.u.l->v[j - 1]);
        return out;
    }
    size_t i = 0;
    int64_t k = 0;
    for (;;) {
        const char *hit =
            (maxsplit < 0 || k < maxsplit) ? memmem(p + i, n - i, sep->u.s.p, sep->u.s.n) : NULL;
        if (!hit) {
            jl_push(c, out.u.l, jv_strb(p + i, n - i));
            return out;
        }
        jl_push(c, out.u.l, jv_strb(p + i, (size_t)(hit - (p + i))));
        i = (size_t)(hit - p) + sep->u.s.n;
        k++;
    }
}

int jx_affix(struct jv s, struct jv x, int end)
{
    if (x.k == JV_LIST) {
        for (size_t i = 0; i < x.u.l->n; i++)
            if (jx_affix(s, x.u.l->v[i], end))
                return 1;
        return 0;
    }
    if (x.k != JV_STR || x.u.s.n > s.u.s.n)
        return 0;
    return !memcmp(s.u.s.p + (end ? s.u.s.n - x.u.s.n : 0), x.u.s.p, x.u.s.n);
}

/* str.format and the % operator: {} {0} {name} and %s %d %r, values as str(). */
struct jv jx_format(struct jctx *c, int line, struct jv fmt, struct jv *args, const char **names,
                    size_t n, int percent)
{
    struct jsb b;
    jx_buf(c, &b);
    const char *p = fmt.u.s.p;
    size_t len = fmt.u.s.n, auto_i = 0;
    for (size_t i = 0; i < len; i++) {
        if (percent) {
            if (p[i] != '%' || i + 1 >= len) {
                jx_put(c, &b, p + i, 1);
                continue;
            }
            char f = p[++i];
            if (f == '%') {
                jx_put(c, &b, "%", 1);
                continue;
            }
            if (auto_i >= n)
                jx_fail(c, line, "not enough arguments for format string");
            struct jv v = args[auto_i++];
            if (f == 'd' || f == 'i') {
                if (v.k == JV_FLOAT)
                    v = jv_int((int64_t)v.u.f);
                else if (v.k != JV_INT && v.k != JV_BOOL)
                    jx_fail(c, line, "%%d format: a real number is required, not %s",
                            jv_type_name(v));
                if (v.k == JV_BOOL)
                    v = jv_int(v.u.b);
            }
            if (f != 's' && f != 'd' && f != 'i' && f != 'r')
                jx_fail(c, line, "unsupported format character '%c'", f);
            jv_print(c, &b, v, f == 'r');
            continue;
        }
        if (p[i] == '{' && i + 1 < len && p[i + 1] == '{') {
            jx_put(c, &b, "{", 1);
            i++;
            continue;
        }
        if (p[i] == '}' && i + 1 < len && p[i + 1] == '}') {
            jx_put(c, &b, "}", 1);
            i++;
            continue;
        }
        if (p[i] != '{') {
            jx_put(c, &b, p + i, 1);
            continue;
        }
        const char *close = memchr(p + i, '}', len - i);
        if (!close)
            jx_fail(c, line, "Single '{' encountered in format string");
        size_t fl = (size_t)(close - (p + i + 1));
        const char *field = p + i + 1;
        const char *colon = memchr(field, ':', fl);
        if (colon)
            fl = (size_t)(colon - field);
        struct jv *v = NULL;
        if (!fl) {
            v = jx_arg(args, names, n, auto_i++, NULL);
        } else if (field[0] >= '0' && field[0] <= '9') {
            v = jx_arg(args, names, n, (size_t)atoi(field), NULL);
        } else {
            char nm[64];
            snprintf(nm, sizeof nm, "%.*s", (int)(fl < 63 ? fl : 63), field);
            for (size_t k = 0; k < n && names; k++)
                if (names[k] && !strcmp(names[k], nm))
                    v = &args[k];
        }
        if (!v)
            jx_fail(c, line, "format: a replacement field has no argument");
        jv_print(c, &b, *v, 0);
        i = (size_t)(close - p);
    }
    return jx_buf_str(c, &b);
}

static const char *const str_methods[] = {
    "capitalize", "count",        "endswith",     "find",    "format",  "index",  "isalnum",
    "isalpha",    "isdigit",      "islower",      "isspace", "isupper", "join",   "lower",
    "lstrip",     "removeprefix", "removesuffix", "replace", "rfind",   "rsplit", "rstrip",
    "split",      "splitlines",   "startswith",   "strip",   "title",   "upper",  NULL};
static const char *const dict_methods[] = {"get", "items", "keys", "values", "copy", NULL};
static const char *const list_methods[] = {"count", "index", "copy", NULL};
/* the methods jinja2's ImmutableSandboxedEnvironment refuses to call */
static const char *const unsafe_methods[] = {"append",     "clear",   "extend", "insert",
                                             "pop",        "popitem", "remove", "reverse",
                                             "setdefault", "sort",    "update", NULL};

int jx_method_unsafe(const char *name)
{
    return in_list(unsafe_methods, name);
}

int jx_has_method(struct jv self, const char *name)
{
    switch (self.k) {
    case JV_STR: return in_list(str_methods, name);
    case JV_DICT: return in_list(dict_methods, name) || in_list(unsafe_methods, name);
    case JV_LIST:
        return !self.tuple ? in_list(list_methods, name) || in_list(unsafe_methods, name)
                           : !strcmp(name, "count") || !strcmp(name, "index");
    default: return 0;
    }
}

static int64_t find_sub(struct jv s, struct jv sub, int rev)
{
    if (sub.u.s.n > s.u.s.n)
        return -1;
    if (!rev) {
        const char *h = sub.u.s.n ? memmem(s.u.s.p, s.u.s.n, sub.u.s.p, sub.u.s.n) : s.u.s.p;
        return h ? (int64_t)ju_len(s.u.s.p, (size_t)(h - s.u.s.p)) : -1;
    }
    for (size_t j = s.u.s.n - sub.u.s.n + 1; j > 0; j--)
        if (!memcmp(s.u.s.p + j - 1, sub.u.s.p, sub.u.s.n))
            return (int64_t)ju_len(s.u.s.p, j - 1);
    return -1;
}

struct jv jx_method(struct jctx *c, int line, struct jfunc *fn, struct jv *args, const char **names,
                    size_t n)
{
    struct jv self = fn->self;
    const char *m = fn->name;
    if (in_list(unsafe_methods, m) && self.k != JV_STR)
        jx_fail(c, line, "access to attribute '%s' of '%s' object is unsafe.", m,
                jv_type_name(self));
    if (self.k == JV_DICT) {
        if (!strcmp(m, "get")) {
            if (n < 1)
                jx_fail(c, line, "get expected at least 1 argument, got 0");
            struct jv *v = jd_get(self.u.d, args[0]);
            return v ? *v : n > 1 ? args[1] : jv_none();
        }
        if (!strcmp(m, "items")) {
            struct jv r = jx_filter(c, line, "items", self, NULL, NULL, 0);
            r.gen = 0; /* dict.items() is a view: it has a length and is false when empty */
            return r;
        }
        if (!strcmp(m, "copy")) {
            struct jv d = jv_dict(c);
            for (size_t i = 0; i < self.u.d->n; i++)
                jd_set(c, d.u.d, self.u.d->k[i], self.u.d->v[i]);
            return d;
        }
        struct jv out = jv_list(c, self.u.d->n);
        for (size_t i = 0; i < self.u.d->n; i++)
            jl_push(c, out.u.l, m[0] == 'k' ? self.u.d->k[i] : self.u.d->v[i]);
        return out;
    }
    if (self.k == JV_LIST) {
        if (!strcmp(m, "copy"))
            return jx_filter(c, line, "list", self, NULL, NULL, 0);
        if (n < 1)
            jx_fail(c, line, "%s() takes exactly one argument", m);
        int64_t count = 0;
        for (size_t i = 0; i < self.u.l->n; i++)
            if (jv_eq(self.u.l->v[i], args[0])) {
                if (m[0] == 'i')
                    return jv_int((int64_t)i);
                count++;
            }
        if (m[0] == 'i')
            jx_fail(c, line, "the value is not in the list");
        return jv_int(count);
    }
    /* strings */
    struct jv *a0 = jx_arg(args, names, n, 0, NULL);
    if (!strcmp(m, "format"))
        return jx_format(c, line, self, args, names, n, 0);
    if (!strcmp(m, "upper") || !strcmp(m, "lower") || !strcmp(m, "capitalize") ||
        !strcmp(m, "title"))
        return jx_case(c, self, m[0] == 'u' ? 'u' : m[0] == 'l' ? 'l' : m[0] == 'c' ? 'c' : 't');
    if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip"))
        return jx_strip(self, a0 && a0->k == JV_STR ? a0 : NULL, m[0] != 'r', m[0] != 'l');
    if (!strcmp(m, "split") || !strcmp(m, "rsplit")) {
        struct jv *sep = jx_arg(args, names, n, 0, "sep");
        struct jv *mx = jx_arg(args, names, n, 1, "maxsplit");
        return jx_split(c, line, self, sep, mx && mx->k == JV_INT ? mx->u.i : -1, m[0] == 'r');
    }
    if (!strcmp(m, "splitlines")) {
        struct jv parts =
            jx_split(c, line, self, &(struct jv){.k = JV_STR, .u.s = {"\n", 1}}, -1, 0);
        if (parts.u.l->n && !parts.u.l->v[parts.u.l->n - 1].u.s.n)
            parts.u.l->n--;
        return parts;
    }
    if (!strcmp(m, "join")) {
        struct jv *sep_args = jx_alloc(c, sizeof *sep_args);
        sep_args[0] = self;
        if (!a0)
            jx_fail(c, line, "join() takes exactly one argument");
        return jx_filter(c, line, "join", *a0, sep_args, NULL, 1);
    }
    if (!strncmp(m, "is", 2)) { /* isdigit, isalpha, isalnum, isspace, isupper, islower */
        int any = 0, ok = 1, cased = 0;
        for (size_t i = 0; i < self.u.s.n; i++) {
            char ch = self.u.s.p[i];
            int d = ch >= '0' && ch <= '9', lo = ch >= 'a' && ch <= 'z',
                up = ch >= 'A' && ch <= 'Z';
            any = 1;
            if (!strcmp(m, "isdigit"))
                ok &= d;
            else if (!strcmp(m, "isalpha"))
                ok &= lo || up;
            else if (!strcmp(m, "isalnum"))
                ok &= lo || up || d;
            else if (!strcmp(m, "isspace"))
                ok &= jx_is_space(ch);
            else if (!strcmp(m, "isupper")) {
                ok &= !lo;
                cased |= up;
            } else {
                ok &= !up;
                cased |= lo;
            }
        }
        if (!strcmp(m, "isupper") || !strcmp(m, "islower"))
            return jv_bool(ok && cased);
        return jv_bool(any && ok);
    }
    if (!a0)
        jx_fail(c, line, "%s() needs an argument", m);
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        if (a0->k != JV_STR && a0->k != JV_LIST)
            jx_fail(c, line, "%s first arg must be str or a tuple of str, not %s", m,
                    jv_type_name(*a0));
        return jv_bool(jx_affix(self, *a0, m[0] == 'e'));
    }
    if (a0->k != JV_STR && strcmp(m, "replace") != 0)
        jx_fail(c, line, "%s() argument must be str, not %s", m, jv_type_name(*a0));
    if (!strcmp(m, "replace")) {
        struct jv *nw = jx_arg(args, names, n, 1, NULL), *cnt = jx_arg(args, names, n, 2, "count");
        if (!nw || a0->k != JV_STR || nw->k != JV_STR)
            jx_fail(c, line, "jx_replace() takes two strings");
        return jx_replace(c, self, *a0, *nw, cnt && cnt->k == JV_INT ? cnt->u.i : -1);
    }
    if (!strcmp(m, "find") || !strcmp(m, "rfind") || !strcmp(m, "index")) {
        int64_t r = find_sub(self, *a0, m[0] == 'r');
        if (r < 0 && m[0] == 'i')
            jx_fail(c, line, "substring not found");
        return jv_int(r);
    }
    if (!strcmp(m, "count")) {
        if (!a0->u.s.n)
            return jv_int((int64_t)ju_len(self.u.s.p, self.u.s.n) + 1);
        int64_t k = 0;
        const char *p = self.u.s.p, *end = p + self.u.s.n;
        const char *h;
        while ((h = memmem(p, (size_t)(end - p), a0->u.s.p, a0->u.s.n)) != NULL) {
            k++;
            p = h + a0->u.s.n;
        }
        return jv_int(k);
    }
    if (!strcmp(m, "removeprefix") || !strcmp(m, "removesuffix")) {
        int end = m[6] == 's';
        if (!jx_affix(self, *a0, end))
            return self;
        return jv_strb(self.u.s.p + (end ? 0 : a0->u.s.n), self.u.s.n - a0->u.s.n);
    }
    jx_fail(c, line, "the method '%s' is not supported", m);
}
