/* The Jinja lexer: template source to tokens, with Jinja2's whitespace rules as transformers
 * configures them (trim_blocks, lstrip_blocks, keep_trailing_newline off). */
#include "chat/jinja_int.h"

#include "base/utf8.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

struct lexer {
    struct jctx *c;
    const char *s;
    size_t n, pos;
    size_t line_pos; /* line is the line of byte line_pos */
    int line;
};

static int line_of(struct lexer *L, size_t pos)
{
    for (; L->line_pos < pos && L->line_pos < L->n; L->line_pos++)
        if (L->s[L->line_pos] == '\n')
            L->line++;
    return L->line;
}

static struct jtok *emit(struct lexer *L, enum jt_kind k, size_t at)
{
    struct jctx *c = L->c;
    if (c->ntoks == c->tcap) {
        size_t cap = c->tcap ? c->tcap * 2 : 256;
        struct jtok *t = jx_alloc(c, cap * sizeof *t);
        if (c->ntoks)
            memcpy(t, c->toks, c->ntoks * sizeof *t);
        c->toks = t;
        c->tcap = cap;
    }
    struct jtok *t = &c->toks[c->ntoks++];
    memset(t, 0, sizeof *t);
    t->k = k;
    t->line = line_of(L, at);
    return t;
}

static int is_ws(char ch)
{
    /* Python's \s on ASCII */
    return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1c && ch <= 0x1f);
}

/* jinja2 splits the source on \r\n, \r and \n and joins it with \n, then drops one trailing
 * newline (keep_trailing_newline is off). */
static char *normalize(struct jctx *c, const char *src, size_t len, size_t *out_n)
{
    char *o = jx_alloc(c, len + 1);
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            if (i + 1 < len && src[i + 1] == '\n')
                i++;
            o[j++] = '\n';
        } else {
            o[j++] = src[i];
        }
    }
    if (j > 0 && o[j - 1] == '\n')
        j--;
    o[j] = '\0';
    *out_n = j;
    return o;
}

static void put_utf8(char *o, size_t *j, uint32_t cp)
{
    *j += utf8_put(o + *j, cp);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A string literal's body with Python's unicode-escape rules (as jinja2 decodes it). */
static void unescape(struct lexer *L, const char *p, size_t n, struct jtok *t)
{
    char *o = jx_alloc(L->c, n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\' || i + 1 >= n) {
            o[j++] = p[i];
            continue;
        }
        char e = p[++i];
        int digits = 0;
        switch (e) {
        case 'n': o[j++] = '\n'; break;
        case 't': o[j++] = '\t'; break;
        case 'r': o[j++] = '\r'; break;
        case '\\': o[j++] = '\\'; break;
        case '\'': o[j++] = '\''; break;
        case '"': o[j++] = '"'; break;
        case 'a': o[j++] = '\a'; break;
        case 'b': o[j++] = '\b'; break;
        case 'f': o[j++] = '\f'; break;
        case 'v': o[j++] = '\v'; break;
        case '\n': break;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                uint32_t v = 0;
                int k = 0;
                for (; k < 3 && i < n && p[i] >= '0' && p[i] <= '7'; k++, i++)
                    v = v * 8 + (uint32_t)(p[i] - '0');
                i--;
                put_utf8(o, &j, v);
            } else {
                o[j++] = '\\';
                o[j++] = e;
            }
        }
        if (digits) {
            uint32_t v = 0;
            for (int k = 0; k < digits; k++) {
                int h = i + 1 + (size_t)k < n ? hexval(p[i + 1 + (size_t)k]) : -1;
                if (h < 0)
                    jx_fail(L->c, t->line, "truncated \\%c escape in a string literal", e);
                v = v * 16 + (uint32_t)h;
            }
            if (v > 0x10ffff)
                jx_fail(L->c, t->line, "illegal Unicode character in a string literal");
            i += (size_t)digits;
            put_utf8(o, &j, v);
        }
    }
    o[j] = '\0';
    t->s = o;
    t->n = j;
}

static int starts(struct lexer *L, size_t at, const char *lit)
{
    size_t k = strlen(lit);
    return at + k <= L->n && memcmp(L->s + at, lit, k) == 0;
}

/* After a tag's end: "-" strips all following whitespace; plain block and comment ends eat one
 * newline (trim_blocks). Returns the new position. */
static size_t after_end(struct lexer *L, size_t p, int minus, int plus, int block)
{
    if (minus) {
        while (p < L->n && is_ws(L->s[p]))
            p++;
    } else if (block && !plus && p < L->n && L->s[p] == '\n') {
        p++;
    }
    return p;
}

/* Tokens inside {{ }} or {% %} up to the end delimiter; returns the position after it. */
static size_t lex_tag(struct lexer *L, size_t p, int var)
{
    struct jctx *c = L->c;
    int depth = 0;
    for (;;) {
        while (p < L->n && is_ws(L->s[p]))
            p++;
        if (p >= L->n)
            jx_fail(c, line_of(L, p),
                    var ? "unexpected end of template, expected '}}'"
                        : "unexpected end of template, expected '%%}'");
        if (depth == 0) {
            int minus = L->s[p] == '-', plus = L->s[p] == '+';
            size_t q = p + (size_t)(minus || plus);
            if (starts(L, q, var ? "}}" : "%}") && !(var && plus)) {
                emit(L, var ? JT_VAR_END : JT_BLOCK_END, p);
                return after_end(L, q + 2, minus, plus, !var);
            }
        }
        char ch = L->s[p];
        struct jtok *t;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_') {
            size_t q = p;
            while (q < L->n &&
                   ((L->s[q] >= 'a' && L->s[q] <= 'z') || (L->s[q] >= 'A' && L->s[q] <= 'Z') ||
                    L->s[q] == '_' || (L->s[q] >= '0' && L->s[q] <= '9')))
                q++;
            t = emit(L, JT_NAME, p);
            t->s = jx_strndup(c, L->s + p, q - p);
            t->n = q - p;
            p = q;
        } else if (ch >= '0' && ch <= '9') {
            size_t q = p;
            char num[64];
            size_t k = 0;
            int is_float = 0;
            while (q < L->n && ((L->s[q] >= '0' && L->s[q] <= '9') || L->s[q] == '_')) {
                if (L->s[q] != '_' && k < sizeof num - 1)
                    num[k++] = L->s[q];
                q++;
            }
            if (q + 1 < L->n && L->s[q] == '.' && L->s[q + 1] >= '0' && L->s[q + 1] <= '9') {
                is_float = 1;
                if (k < sizeof num - 1)
                    num[k++] = '.';
                q++;
                while (q < L->n && ((L->s[q] >= '0' && L->s[q] <= '9') || L->s[q] == '_')) {
                    if (L->s[q] != '_' && k < sizeof num - 1)
                        num[k++] = L->s[q];
                    q++;
                }
            }
            if (q < L->n && (L->s[q] == 'e' || L->s[q] == 'E')) {
                size_t r = q + 1;
                if (r < L->n && (L->s[r] == '+' || L->s[r] == '-'))
                    r++;
                if (r < L->n && L->s[r] >= '0' && L->s[r] <= '9') {
                    is_float = 1;
                    for (size_t x = q; x < r && k < sizeof num - 1; x++)
                        num[k++] = L->s[x];
                    while (r < L->n && L->s[r] >= '0' && L->s[r] <= '9') {
                        if (k < sizeof num - 1)
                            num[k++] = L->s[r];
                        r++;
                    }
                    q = r;
                }
            }
            num[k] = '\0';
            if (is_float) {
                t = emit(L, JT_FLOAT, p);
                t->f = strtod(num, NULL);
            } else {
                t = emit(L, JT_INT, p);
                char *end;
                unsigned long long v = strtoull(num, &end, 10);
                if (k >= sizeof num - 1 || v > INT64_MAX)
                    jx_fail(c, t->line, "integer literal too large");
                t->i = (int64_t)v;
            }
            p = q;
        } else if (ch == '\'' || ch == '"') {
            size_t q = p + 1;
            while (q < L->n && L->s[q] != ch) {
                if (L->s[q] == '\\' && q + 1 < L->n)
                    q++;
                q++;
            }
            if (q >= L->n)
                jx_fail(c, line_of(L, p), "unterminated string literal");
            t = emit(L, JT_STRING, p);
            unescape(L, L->s + p + 1, q - p - 1, t);
            p = q + 1;
        } else {
            static const char *const ops2[] = {"//", "**", "==", "!=", "<=", ">="};
            const char *single = "+-/*%~()[]{},.:|=<>;";
            t = emit(L, JT_OP, p);
            int found = 0;
            for (size_t k = 0; k < ARRAY_LEN(ops2) && !found; k++)
                if (starts(L, p, ops2[k])) {
                    memcpy(t->op, ops2[k], 3);
                    p += 2;
                    found = 1;
                }
            if (!found) {
                if (!strchr(single, ch) || ch == '\0')
                    jx_fail(c, t->line, "unexpected char '%c'", ch);
                t->op[0] = ch;
                p++;
                if (ch == '(' || ch == '[' || ch == '{')
                    depth++;
                else if ((ch == ')' || ch == ']' || ch == '}') && depth > 0)
                    depth--;
            }
        }
    }
}

/* {% raw %}: returns the position after the opening tag, or 0 when the tag is not raw. */
static size_t raw_open(struct lexer *L, size_t p)
{
    p += 2;
    if (p < L->n && (L->s[p] == '-' || L->s[p] == '+'))
        p++;
    while (p < L->n && is_ws(L->s[p]))
        p++;
    if (!starts(L, p, "raw"))
        return 0;
    p += 3;
    while (p < L->n && is_ws(L->s[p]))
        p++;
    if (starts(L, p, "-%}"))
        return after_end(L, p + 3, 1, 0, 1);
    if (starts(L, p, "%}"))
        return p + 2;
    return 0;
}

void jx_lex(struct jctx *c, const char *src, size_t len)
{
    struct lexer L = {.c = c, .line = 1};
    L.s = normalize(c, src, len, &L.n);
    size_t pos = 0;
    int line_starting = 1;
    while (pos < L.n) {
        size_t q = pos;
        while (q + 1 < L.n &&
               !(L.s[q] == '{' && (L.s[q + 1] == '{' || L.s[q + 1] == '%' || L.s[q + 1] == '#')))
            q++;
        if (q + 1 >= L.n)
            q = L.n;
        size_t tend = q;
        if (q < L.n) {
            char kind = L.s[q + 1];
            char sign = q + 2 < L.n ? L.s[q + 2] : 0;
            if (sign == '-') {
                while (tend > pos && is_ws(L.s[tend - 1]))
                    tend--;
            } else if (sign != '+' && kind != '{') {
                size_t lp = tend;
                while (lp > pos && L.s[lp - 1] != '\n')
                    lp--;
                int only_ws = lp < tend;
                for (size_t k = lp; k < tend; k++)
                    if (!is_ws(L.s[k]))
                        only_ws = 0;
                if (only_ws && (lp > pos || line_starting))
                    tend = lp;
            }
        }
        if (tend > pos) {
            struct jtok *t = emit(&L, JT_TEXT, pos);
            t->s = L.s + pos;
            t->n = tend - pos;
        }
        if (q >= L.n)
            break;
        char kind = L.s[q + 1];
        char sign = q + 2 < L.n ? L.s[q + 2] : 0;
        size_t body = q + 2 + (size_t)(sign == '-' || sign == '+');
        size_t r;
        if (kind == '#') {
            size_t e = body;
            while (e + 1 < L.n && !(L.s[e] == '#' && L.s[e + 1] == '}'))
                e++;
            if (e + 1 >= L.n) {
                if (body >= L.n) /* jinja2 stops quietly at a {# that ends the template */
                    break;
                jx_fail(c, line_of(&L, q), "missing end of comment tag");
            }
            int minus = e > body && L.s[e - 1] == '-';
            int plus = e > body && L.s[e - 1] == '+';
            r = after_end(&L, e + 2, minus, plus, 1);
        } else if (kind == '%' && (r = raw_open(&L, q)) != 0) {
            /* find {% endraw %} */
            size_t e = r, close = 0;
            for (; e + 1 < L.n; e++) {
                if (L.s[e] != '{' || L.s[e + 1] != '%')
                    continue;
                size_t k = e + 2;
                int minus = k < L.n && L.s[k] == '-';
                if (k < L.n && (L.s[k] == '-' || L.s[k] == '+'))
                    k++;
                while (k < L.n && is_ws(L.s[k]))
                    k++;
                if (!starts(&L, k, "endraw"))
                    continue;
                k += 6;
                while (k < L.n && is_ws(L.s[k]))
                    k++;
                int m2 = starts(&L, k, "-%}"), p2 = starts(&L, k, "+%}");
                if (!m2 && !p2 && !starts(&L, k, "%}"))
                    continue;
                size_t tend2 = e;
                if (minus)
                    while (tend2 > r && is_ws(L.s[tend2 - 1]))
                        tend2--;
                if (tend2 > r) {
                    struct jtok *t = emit(&L, JT_TEXT, r);
                    t->s = L.s + r;
                    t->n = tend2 - r;
                }
                close = after_end(&L, k + (m2 || p2 ? 3 : 2), m2, p2, 1);
                break;
            }
            if (!close) {
                if (r >= L.n) /* a {% raw %} that ends the template: nothing follows */
                    break;
                jx_fail(c, line_of(&L, q), "missing end of raw directive");
            }
            r = close;
        } else {
            emit(&L, kind == '{' ? JT_VAR_BEGIN : JT_BLOCK_BEGIN, q);
            r = lex_tag(&L, body, kind == '{');
        }
        line_starting = r > 0 && L.s[r - 1] == '\n';
        pos = r;
    }
    emit(&L, JT_EOF, L.n);
}
