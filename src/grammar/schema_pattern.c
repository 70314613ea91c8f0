/* A JSON schema `pattern` (an ECMA-262 regular expression) as a GBNF rule for a JSON string.
 *
 * The grammar matches the JSON text of the string, so every character the regex can match is
 * written the way JSON writes it: a quote or backslash escaped, control characters as \n, \t
 * or \u00XX. llama.cpp emits the regex's characters raw, so there a `.` or `[^a]` can produce an
 * unescaped quote and end the string early; here it cannot.
 *
 * Supported: literals, `.`, classes with ranges and negation, \d \w \s \D \W \S, escapes
 * (\t \n \r \f \v \xHH \uHHHH and escaped punctuation), groups `( )` and `(?: )`, `|`,
 * `* + ? {m} {m,} {m,n}` and their lazy forms. A pattern without `^` or `$` matches anywhere in
 * the string, as JSON schema says. Anything else (lookaround, backreferences, \b, named groups,
 * flags) is an error rather than a looser grammar. */
#include "base/buf.h"
#include "base/util.h"
#include "grammar/schema.h"
#include "grammar/schema_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CP 0x10FFFFu

struct rset {
    uint32_t (*r)[2];
    size_t n, cap;
};

static void rset_add(struct rset *s, uint32_t lo, uint32_t hi)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->r = xrealloc(s->r, s->cap * sizeof *s->r);
    }
    s->r[s->n][0] = lo;
    s->r[s->n][1] = hi;
    s->n++;
}

static int range_cmp(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static void rset_normalize(struct rset *s)
{
    if (!s->n)
        return;
    qsort(s->r, s->n, sizeof *s->r, range_cmp);
    size_t k = 0;
    for (size_t i = 1; i < s->n; i++) {
        if (s->r[i][0] <= s->r[k][1] + 1) {
            if (s->r[i][1] > s->r[k][1])
                s->r[k][1] = s->r[i][1];
        } else {
            k++;
            s->r[k][0] = s->r[i][0];
            s->r[k][1] = s->r[i][1];
        }
    }
    s->n = k + 1;
}

static void rset_complement(struct rset *s)
{
    rset_normalize(s);
    struct rset c = {0};
    uint32_t next = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i][0] > next)
            rset_add(&c, next, s->r[i][0] - 1);
        next = s->r[i][1] + 1;
    }
    if (next <= MAX_CP)
        rset_add(&c, next, MAX_CP);
    free(s->r);
    *s = c;
}

static int rset_has(const struct rset *s, uint32_t cp)
{
    for (size_t i = 0; i < s->n; i++)
        if (cp >= s->r[i][0] && cp <= s->r[i][1])
            return 1;
    return 0;
}

struct rx {
    struct conv *c;
    const char *rule_name; /* for the rules of wide classes */
    const char *dot;       /* a name for the rule of `.`, else NULL */
    const char *s;
    size_t i, n;
    const char *path;
    int depth;
};

static int rx_fail(struct rx *x, const char *what)
{
    return conv_fail(x->c, ERR_BAD_REQUEST, "pattern at %s: %s at offset %zu", x->path, what, x->i);
}

static void gbnf_class_cp(struct buf *b, uint32_t cp)
{
    if (cp == ']' || cp == '[' || cp == '-' || cp == '\\' || cp == '"')
        buf_printf(b, "\\%c", (char)cp);
    else if (cp == '^' || cp < 0x20 || cp == 0x7F)
        buf_printf(b, "\\x%02X", cp);
    else if (cp < 0x80)
        buf_printf(b, "%c", (char)cp);
    else
        buf_printf(b, "\\U%08X", cp);
}

/* The JSON text of one code point inside a string, as a GBNF item. */
static void emit_cp(struct buf *b, uint32_t cp)
{
    static const char hex[] = "0123456789abcdef";
    switch (cp) {
    case '"': buf_puts(b, "\"\\\\\\\"\""); return;
    case '\\': buf_puts(b, "\"\\\\\\\\\""); return;
    case '\n': buf_puts(b, "\"\\\\n\""); return;
    case '\r': buf_puts(b, "\"\\\\r\""); return;
    case '\t': buf_puts(b, "\"\\\\t\""); return;
    case '\b': buf_puts(b, "\"\\\\b\""); return;
    case '\f': buf_puts(b, "\"\\\\f\""); return;
    default: break;
    }
    if (cp < 0x20 || cp == 0x7F) {
        char hi = hex[(cp >> 4) & 15], lo = hex[cp & 15];
        if (lo >= 'a')
            buf_printf(b, "(\"\\\\u00%c\" [%c%c])", hi, lo, lo - 'a' + 'A');
        else
            buf_printf(b, "\"\\\\u00%c%c\"", hi, lo);
        return;
    }
    char u[5];
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (n == 1) {
        u[0] = (char)cp;
    } else {
        for (size_t k = n - 1; k > 0; k--) {
            u[k] = (char)(0x80 | (cp & 0x3F));
            cp >>= 6;
        }
        u[0] = (char)((n == 2 ? 0xC0 : n == 3 ? 0xE0 : 0xF0) | cp);
    }
    u[n] = 0;
    buf_printf(b, "\"%s\"", u);
}

static int is_special(uint32_t cp)
{
    return cp < 0x20 || cp == '"' || cp == '\\';
}

/* The first code point above cp that JSON must escape, or MAX_CP + 1. */
static uint32_t next_special(uint32_t cp)
{
    return cp < '"' ? '"' : cp < '\\' ? '\\' : MAX_CP + 1;
}

/* A set of code points as one GBNF item for their JSON text. Frees set. */
static int emit_set(struct rx *x, struct buf *b, struct rset *set)
{
    rset_normalize(set);
    struct buf alts;
    buf_init(&alts, 0);
    int n_alt = 0;
    for (size_t i = 0; i < set->n; i++) {
        for (uint32_t start = set->r[i][0]; start <= set->r[i][1];) {
            if (is_special(start)) {
                start++;
                continue;
            }
            uint32_t end = next_special(start) - 1;
            if (end > set->r[i][1])
                end = set->r[i][1];
            buf_puts(&alts, n_alt ? "" : "[");
            n_alt = 1;
            gbnf_class_cp(&alts, start);
            if (end > start) {
                buf_puts(&alts, "-");
                gbnf_class_cp(&alts, end);
            }
            if (end >= MAX_CP)
                break;
            start = end + 1;
        }
    }
    if (n_alt)
        buf_puts(&alts, "]");
    for (uint32_t cp = 0; cp < 0x7F; cp++) {
        if (is_special(cp) && rset_has(set, cp)) {
            buf_puts(&alts, n_alt++ ? " | " : "");
            emit_cp(&alts, cp);
        }
    }
    free(set->r);
    memset(set, 0, sizeof *set);
    if (!n_alt) {
        buf_free(&alts);
        return rx_fail(x, "a character class that matches nothing");
    }
    if (n_alt > 2) {
        /* many alternatives (escapes): a rule of their own, shared by equal classes */
        char *name;
        if (x->dot) {
            name = conv_add_rule(x->c, x->dot, alts.data);
        } else {
            struct buf nb;
            buf_init(&nb, 0);
            buf_printf(&nb, "%s-chars", x->rule_name);
            name = conv_add_rule(x->c, nb.data, alts.data);
            buf_free(&nb);
        }
        if (name)
            buf_puts(b, name);
        free(name);
    } else {
        buf_printf(b, n_alt > 1 ? "(%s)" : "%s", alts.data);
    }
    buf_free(&alts);
    return x->c->failed ? x->c->e->code : 0;
}

static int decode_cp(struct rx *x, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)x->s + x->i;
    int len = u[0] < 0x80         ? 1
              : (u[0] >> 5) == 6  ? 2
              : (u[0] >> 4) == 14 ? 3
              : (u[0] >> 3) == 30 ? 4
                                  : 0;
    if (!len || x->i + (size_t)len > x->n)
        return rx_fail(x, "not valid UTF-8");
    uint32_t v = len == 1 ? u[0] : u[0] & (0x7Fu >> len);
    for (int k = 1; k < len; k++) {
        if ((u[k] & 0xC0) != 0x80)
            return rx_fail(x, "not valid UTF-8");
        v = v << 6 | (u[k] & 0x3F);
    }
    x->i += (size_t)len;
    *cp = v;
    return 0;
}

static int hexdigits(struct rx *x, int n, uint32_t *out)
{
    uint32_t v = 0;
    for (int k = 0; k < n; k++) {
        char h = x->i < x->n ? x->s[x->i] : 0;
        int d = (h >= '0' && h <= '9')   ? h - '0'
                : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                         : -1;
        if (d < 0)
            return rx_fail(x, "expecting hex digits");
        v = v << 4 | (uint32_t)d;
        x->i++;
    }
    *out = v;
    return 0;
}

/* After a backslash: a class escape (\d...) added to set, or one code point in *cp.
 * Returns 1 for a class, 0 for a code point, negative on error. */
static int parse_escape(struct rx *x, struct rset *set, uint32_t *cp, int in_class)
{
    if (x->i >= x->n)
        return rx_fail(x, "a trailing backslash");
    char ch = x->s[x->i++];
    struct rset cls = {0};
    switch (ch) {
    case 'd':
    case 'D': rset_add(&cls, '0', '9'); break;
    case 'w':
    case 'W':
        rset_add(&cls, '0', '9');
        rset_add(&cls, 'A', 'Z');
        rset_add(&cls, 'a', 'z');
        rset_add(&cls, '_', '_');
        break;
    case 's':
    case 'S':
        rset_add(&cls, '\t', '\r');
        rset_add(&cls, ' ', ' ');
        rset_add(&cls, 0xA0, 0xA0);
        rset_add(&cls, 0x2028, 0x2029);
        rset_add(&cls, 0xFEFF, 0xFEFF);
        break;
    case 't': *cp = '\t'; return 0;
    case 'n': *cp = '\n'; return 0;
    case 'r': *cp = '\r'; return 0;
    case 'f': *cp = '\f'; return 0;
    case 'v': *cp = '\v'; return 0;
    case 'x': return hexdigits(x, 2, cp);
    case 'u': return hexdigits(x, 4, cp);
    default:
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) {
            x->i--;
            return rx_fail(x, in_class ? "an unsupported escape in a class"
                                       : "an unsupported escape (word boundaries, "
                                         "backreferences and the like have no grammar)");
        }
        x->i--;
        return decode_cp(x, cp); /* escaped punctuation is itself */
    }
    if (ch >= 'A' && ch <= 'Z')
        rset_complement(&cls);
    for (size_t k = 0; k < cls.n; k++)
        rset_add(set, cls.r[k][0], cls.r[k][1]);
    free(cls.r);
    return 1;
}

static int parse_class(struct rx *x, struct rset *set)
{
    int negated = 0;
    x->i++; /* [ */
    if (x->i < x->n && x->s[x->i] == '^') {
        negated = 1;
        x->i++;
    }
    /* ECMA: "[]" matches nothing and "[^]" anything; a ']' first is not literal */
    while (x->i < x->n && x->s[x->i] != ']') {
        uint32_t lo = 0, hi = 0;
        int rc;
        if (x->s[x->i] == '[' && x->i + 1 < x->n && x->s[x->i + 1] == ':')
            return rx_fail(x, "POSIX classes like [:alpha:] are not supported");
        if (x->s[x->i] == '\\') {
            x->i++;
            rc = parse_escape(x, set, &lo, 1);
            if (rc < 0)
                return rc;
            if (rc == 1)
                continue;
        } else if ((rc = decode_cp(x, &lo))) {
            return rc;
        }
        hi = lo;
        if (x->i + 1 < x->n && x->s[x->i] == '-' && x->s[x->i + 1] != ']') {
            x->i++;
            if (x->s[x->i] == '\\') {
                x->i++;
                rc = parse_escape(x, set, &hi, 1);
                if (rc < 0)
                    return rc;
                if (rc == 1)
                    return rx_fail(x, "a range ending in a class escape");
            } else if ((rc = decode_cp(x, &hi))) {
                return rc;
            }
            if (hi < lo)
                return rx_fail(x, "a range out of order");
        }
        rset_add(set, lo, hi);
    }
    if (x->i >= x->n)
        return rx_fail(x, "an unterminated character class");
    x->i++; /* ] */
    if (negated)
        rset_complement(set);
    return 0;
}

static int rx_alt(struct rx *x, struct buf *out, int *nullable);

static int parse_count(struct rx *x, uint32_t *v)
{
    uint64_t n = 0;
    size_t start = x->i;
    while (x->i < x->n && x->s[x->i] >= '0' && x->s[x->i] <= '9') {
        n = n * 10 + (uint64_t)(x->s[x->i++] - '0');
        if (n > SCHEMA_MAX_REPEAT)
            return conv_fail(x->c, ERR_TOO_LARGE, "pattern at %s: a repetition count is over %d",
                             x->path, SCHEMA_MAX_REPEAT);
    }
    if (x->i == start)
        return rx_fail(x, "expecting a number in {m,n}");
    *v = (uint32_t)n;
    return 0;
}

/* One atom and its quantifier. */
static int rx_piece(struct rx *x, struct buf *out, int *nullable)
{
    struct buf atom;
    buf_init(&atom, 0);
    int rc = 0;
    *nullable = 0;
    char ch = x->s[x->i];
    if (ch == '(') {
        x->i++;
        if (x->i < x->n && x->s[x->i] == '?') {
            if (x->i + 1 < x->n && x->s[x->i + 1] == ':')
                x->i += 2;
            else
                rc = rx_fail(x, "lookaround, named groups and flags are not supported");
        }
        if (!rc && ++x->depth > SCHEMA_MAX_PATTERN_DEPTH)
            rc = conv_fail(x->c, ERR_TOO_LARGE, "pattern at %s: groups nested over %d deep",
                           x->path, SCHEMA_MAX_PATTERN_DEPTH);
        if (!rc) {
            buf_puts(&atom, "(");
            rc = rx_alt(x, &atom, nullable);
            buf_puts(&atom, ")");
            x->depth--;
        }
        if (!rc && (x->i >= x->n || x->s[x->i] != ')'))
            rc = rx_fail(x, "an unbalanced parenthesis");
        x->i++;
    } else if (ch == '[' || ch == '.' || ch == '\\') {
        struct rset set = {0};
        uint32_t cp = 0;
        int is_set = 1;
        if (ch == '[') {
            rc = parse_class(x, &set);
        } else if (ch == '.') {
            x->dot = "dot";
            x->i++;
            rset_add(&set, '\n', '\n');
            rset_add(&set, '\r', '\r');
            rset_add(&set, 0x2028, 0x2029);
            rset_complement(&set);
        } else {
            x->i++;
            rc = parse_escape(x, &set, &cp, 0);
            is_set = rc == 1;
            rc = rc < 0 ? rc : 0;
        }
        if (!rc && is_set)
            rc = emit_set(x, &atom, &set);
        else if (!rc)
            emit_cp(&atom, cp);
        x->dot = NULL;
        free(set.r);
    } else if (ch == '*' || ch == '+' || ch == '?' || ch == '{') {
        rc = rx_fail(x, "nothing to repeat");
    } else if (ch == '^' || ch == '$') {
        rc = rx_fail(x, "an anchor inside the pattern (only a leading ^ and a trailing $)");
    } else {
        uint32_t cp = 0;
        rc = decode_cp(x, &cp);
        if (!rc)
            emit_cp(&atom, cp);
    }
    if (rc) {
        buf_free(&atom);
        return rc;
    }
    /* the quantifier */
    uint32_t min = 1, max = 1;
    int quant = 0;
    if (x->i < x->n) {
        char q = x->s[x->i];
        if (q == '*' || q == '+' || q == '?') {
            min = q == '+';
            max = q == '?' ? 1 : UINT32_MAX;
            quant = 1;
            x->i++;
        } else if (q == '{') {
            x->i++;
            if ((rc = parse_count(x, &min)))
                goto out;
            max = min;
            if (x->i < x->n && x->s[x->i] == ',') {
                x->i++;
                max = UINT32_MAX;
                if (x->i < x->n && x->s[x->i] != '}' && (rc = parse_count(x, &max)))
                    goto out;
            }
            if (x->i >= x->n || x->s[x->i] != '}') {
                rc = rx_fail(x, "expecting '}'");
                goto out;
            }
            x->i++;
            if (max < min) {
                rc = rx_fail(x, "{m,n} with n below m");
                goto out;
            }
            quant = 1;
        }
        if (quant && x->i < x->n && x->s[x->i] == '?')
            x->i++; /* lazy: the same strings */
        else if (quant && x->i < x->n && x->s[x->i] == '+') {
            rc = rx_fail(x, "possessive quantifiers are not supported");
            goto out;
        }
    }
    if (quant && *nullable && max == UINT32_MAX) {
        rc = rx_fail(x, "a repeated part that can match the empty string");
        goto out;
    }
    if (!quant || (min == 1 && max == 1))
        buf_puts(out, atom.data);
    else if (max == 0)
        *nullable = 1;
    else if (min == 0 && max == 1)
        buf_printf(out, "%s?", atom.data);
    else if (min == 0 && max == UINT32_MAX)
        buf_printf(out, "%s*", atom.data);
    else if (min == 1 && max == UINT32_MAX)
        buf_printf(out, "%s+", atom.data);
    else if (max == UINT32_MAX)
        buf_printf(out, "%s{%u,}", atom.data, min);
    else if (min == max)
        buf_printf(out, "%s{%u}", atom.data, min);
    else
        buf_printf(out, "%s{%u,%u}", atom.data, min, max);
    if (quant && min == 0)
        *nullable = 1;
out:
    buf_free(&atom);
    return rc;
}

static int rx_seq(struct rx *x, struct buf *out, int *nullable)
{
    *nullable = 1;
    int first = 1;
    while (x->i < x->n && x->s[x->i] != '|' && x->s[x->i] != ')') {
        int nl, rc;
        if (!first)
            buf_puts(out, " ");
        first = 0;
        if ((rc = rx_piece(x, out, &nl)))
            return rc;
        *nullable &= nl;
    }
    return 0;
}

static int rx_alt(struct rx *x, struct buf *out, int *nullable)
{
    int nl, rc = rx_seq(x, out, &nl);
    *nullable = nl;
    while (!rc && x->i < x->n && x->s[x->i] == '|') {
        x->i++;
        buf_puts(out, " | ");
        rc = rx_seq(x, out, &nl);
        *nullable |= nl;
    }
    return rc;
}

char *conv_pattern(struct conv *c, const char *pattern, const char *rule_name, const char *path)
{
    size_t n = strlen(pattern);
    struct rx x = {.c = c, .rule_name = rule_name, .s = pattern, .n = n, .path = path};
    int head = n > 0 && pattern[0] == '^';
    /* a trailing $ that is not escaped */
    size_t bs = 0;
    while (n >= 2 + bs && pattern[n - 2 - bs] == '\\')
        bs++;
    int tail = n > (size_t)head && pattern[n - 1] == '$' && bs % 2 == 0;
    x.i = (size_t)head;
    x.n = n - (size_t)tail;
    struct buf body;
    buf_init(&body, SCHEMA_MAX_GRAMMAR);
    int nullable;
    int rc = rx_alt(&x, &body, &nullable);
    if (!rc && x.i < x.n)
        rc = rx_fail(&x, "an unbalanced parenthesis");
    char *ch = rc || (head && tail) ? NULL : conv_prim(c, "char");
    char *r = NULL;
    if (!rc && !c->failed) {
        struct buf b;
        buf_init(&b, 0);
        buf_puts(&b, "\"\\\"\" ");
        if (!head)
            buf_printf(&b, "%s* ", ch);
        buf_printf(&b, "(%s)", body.data ? body.data : "");
        if (!tail)
            buf_printf(&b, " %s*", ch);
        buf_puts(&b, " \"\\\"\"");
        r = conv_add_rule(c, rule_name, b.data);
        buf_free(&b);
    }
    free(ch);
    buf_free(&body);
    return r;
}
