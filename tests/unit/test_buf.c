#include "base/buf.h"
#include "base/err.h"
#include "base/util.h"
#include "check.h"

#include <stdlib.h>

int main(void)
{
    struct buf b;
    buf_init(&b, 16);
    CHECK(buf_puts(&b, "hello") == 0);
    CHECK(b.len == 5);
    CHECK_STR(b.data, "hello");
    /* An append past the cap fails and changes nothing. */
    CHECK(buf_puts(&b, " world, too long") == ERR_TOO_LARGE);
    CHECK_STR(b.data, "hello");
    CHECK(buf_printf(&b, " %d%s", 42, "!") == 0);
    CHECK_STR(b.data, "hello 42!");
    CHECK(buf_printf(&b, "%s", "12345678") == ERR_TOO_LARGE);
    CHECK(b.len == 9);
    buf_consume(&b, 6);
    CHECK_STR(b.data, "42!");
    buf_consume(&b, 100);
    CHECK(b.len == 0);
    CHECK_STR(b.data, "");
    buf_free(&b);

    /* Unlimited buffers grow through large printf output. */
    buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        CHECK(buf_printf(&b, "%0300d", i) == 0);
    CHECK(b.len == 300000);
    char *s = buf_steal(&b);
    CHECK(s[299999] == '9');
    CHECK(b.data == NULL && b.len == 0);
    free(s);

    int64_t v;
    CHECK(parse_i64("-12", &v) == 0 && v == -12);
    CHECK(parse_i64("12x", &v) != 0);
    CHECK(parse_i64("", &v) != 0);
    CHECK(parse_i64("99999999999999999999", &v) != 0);
    double d;
    CHECK(parse_double("0.5", &d) == 0 && d == 0.5);
    CHECK(parse_double("nan", &d) != 0);
    CHECK(parse_double("inf", &d) != 0);
    CHECK(parse_double("1e999", &d) != 0);
    return check_done("test_buf");
}
