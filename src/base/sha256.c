#include "base/sha256.h"

#include <openssl/evp.h>
#include <stdio.h>

void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + (size_t)2 * i, 3, "%02x", md[i]);
}
