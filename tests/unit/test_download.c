/* The downloader's address rules: which addresses a registry's redirect may reach. */
#include "check.h"
#include "net/download.h"

#include <arpa/inet.h>

static int allowed(const struct dl_session *s, const char *ip)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, ip, a) == 1)
        return dl_addr_allowed(s, AF_INET, a);
    if (inet_pton(AF_INET6, ip, a) == 1)
        return dl_addr_allowed(s, AF_INET6, a);
    return -1;
}

int main(void)
{
    struct dl_session pub, local;
    struct err e = {0};
    /* An endpoint by public address: nothing internal is reachable. */
    CHECK(dl_session_init(&pub, "https://93.184.215.14/", NULL, &e) == 0);
    CHECK(allowed(&pub, "93.184.215.14") == 1);
    CHECK(allowed(&pub, "8.8.8.8") == 1);
    CHECK(allowed(&pub, "2606:4700::1111") == 1);
    const char *internal[] = {"127.0.0.1",
                              "127.8.9.10",
                              "10.1.2.3",
                              "172.16.0.1",
                              "172.31.255.1",
                              "192.168.1.1",
                              "169.254.1.1",
                              "169.254.169.254",
                              "0.0.0.0",
                              "100.64.0.1",
                              "::1",
                              "::",
                              "fc00::1",
                              "fd12:3456::1",
                              "fe80::1",
                              "febf::1",
                              "::ffff:127.0.0.1",
                              "::ffff:10.0.0.1",
                              "::ffff:169.254.169.254"};
    for (size_t i = 0; i < sizeof internal / sizeof internal[0]; i++) {
        if (allowed(&pub, internal[i]) != 0)
            fprintf(stderr, "allowed: %s\n", internal[i]);
        CHECK(allowed(&pub, internal[i]) == 0);
    }
    /* Next to the private ranges, public addresses stay allowed. */
    CHECK(allowed(&pub, "172.32.0.1") == 1);
    CHECK(allowed(&pub, "192.169.0.1") == 1);
    CHECK(allowed(&pub, "fec0::1") == 1);

    /* An endpoint on loopback (a test's fake registry, a local mirror): that address only. */
    CHECK(dl_session_init(&local, "http://127.0.0.1:8080/", NULL, &e) == 0);
    CHECK(allowed(&local, "127.0.0.1") == 1);
    CHECK(allowed(&local, "::ffff:127.0.0.1") == 1);
    CHECK(allowed(&local, "127.0.0.2") == 0);
    CHECK(allowed(&local, "10.0.0.1") == 0);
    CHECK(allowed(&local, "169.254.169.254") == 0);

    /* The metadata address is never allowed, even as the endpoint itself. */
    struct dl_session meta;
    CHECK(dl_session_init(&meta, "http://169.254.169.254/", NULL, &e) == 0);
    CHECK(allowed(&meta, "169.254.169.254") == 0);

    /* Only http(s) endpoints. */
    CHECK(dl_session_init(&meta, "file:///etc/passwd", NULL, &e) == ERR_BAD_REQUEST);
    CHECK(dl_session_init(&meta, "ftp://example.com/", NULL, &e) == ERR_BAD_REQUEST);

    char host[256];
    CHECK(dl_url_host("https://Example.COM:443/x", host, sizeof host, &e) == 0);
    CHECK_STR(host, "example.com");
    CHECK(dl_url_host("http://[::1]:8080/", host, sizeof host, &e) == 0);
    CHECK_STR(host, "::1");
    return check_done("test_download");
}
