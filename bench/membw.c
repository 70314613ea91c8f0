/* Read bandwidth of this machine's memory, for the benchmark's "memory-bandwidth limit" row:
 * THREADS threads each sum their share of a 1 GiB buffer; the best of five passes is printed
 * in GB/s (10^9 bytes per second). Usage: membw THREADS */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIZE ((size_t)1 << 30)

struct part {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
};

static void *reader(void *arg)
{
    struct part *t = arg;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= t->n; i += 4) {
        a += t->p[i];
        b += t->p[i + 1];
        c += t->p[i + 2];
        d += t->p[i + 3];
    }
    t->sum = a + b + c + d;
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 256)
        threads = 1;
    uint64_t *buf = malloc(SIZE);
    if (!buf)
        return 1;
    memset(buf, 1, SIZE); /* touch every page */
    double best = 0;
    uint64_t check = 0;
    for (int pass = 0; pass < 5; pass++) {
        pthread_t tid[256];
        struct part parts[256];
        size_t per = SIZE / sizeof *buf / (size_t)threads;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < threads; i++) {
            parts[i] = (struct part){buf + (size_t)i * per, per, 0};
            pthread_create(&tid[i], NULL, reader, &parts[i]);
        }
        for (int i = 0; i < threads; i++) {
            pthread_join(tid[i], NULL);
            check += parts[i].sum;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        double gbs = (double)(per * (size_t)threads * sizeof *buf) / s / 1e9;
        if (gbs > best)
            best = gbs;
    }
    printf("%.2f\n", best);
    fprintf(stderr, "membw: checksum %llu\n", (unsigned long long)check);
    free(buf);
    return 0;
}
