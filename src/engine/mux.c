/* Many requests over one worker connection (client.h): each event goes to the channel of its
 * request id. */
#include "base/util.h"
#include "engine/client.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct mux_item {
    struct mux_item *next;
    struct proto_msg m;
};

struct mux_chan {
    struct mux_chan *next;
    uint64_t id;
    struct mux_item *head, **tail;
    pthread_cond_t cond;
    int waiting; /* its thread waits in mux_recv */
};

/* No thread of its own: a thread waiting in mux_recv reads for everyone (the "leader") while
 * the others sleep on their channel; it hands each message to its channel, and when it returns
 * with its own, wakes one waiter to read next. One wakeup per message, as with an in-process
 * queue. */
struct worker_mux {
    struct worker_proc *w;
    pthread_mutex_t mu; /* guards everything below except rd, which the leader owns */
    pthread_mutex_t send_mu;
    struct mux_chan *chans;
    int reading; /* a leader is reading */
    int dead;
    struct err err;
    struct proto_reader rd;
    int64_t last_us; /* when a message last went either way (atomic) */
};

static void fail_locked(struct worker_mux *m, const struct err *e)
{
    if (m->dead)
        return;
    m->dead = 1;
    m->err = *e;
    for (struct mux_chan *c = m->chans; c; c = c->next)
        pthread_cond_broadcast(&c->cond);
}

/* Hands a message to its channel (under the lock); a late answer to a request that has gone
 * is dropped. */
static void dispatch_locked(struct worker_mux *m, struct mux_item *it, struct mux_chan *self)
{
    struct mux_chan *c = m->chans;
    while (c && c->id != it->m.id)
        c = c->next;
    if (!c) {
        proto_msg_free(&it->m);
        free(it);
        return;
    }
    *c->tail = it;
    c->tail = &it->next;
    if (c != self)
        pthread_cond_signal(&c->cond);
}

/* The leader's turn: reads what has arrived (waiting up to timeout_ms) and dispatches it.
 * Called and returns with the lock held. Returns 1 when the time ran out. */
static int lead_locked(struct worker_mux *m, struct mux_chan *self, int timeout_ms)
{
    m->reading = 1;
    pthread_mutex_unlock(&m->mu);
    struct err e = {0};
    int rc = proto_reader_fill(&m->rd, timeout_ms, &e);
    struct mux_item *got = NULL, **tail = &got;
    while (rc == 0) {
        struct mux_item *it = xcalloc(1, sizeof *it);
        int n = proto_reader_next(&m->rd, &it->m, &e);
        if (n != 1) {
            proto_msg_free(&it->m);
            free(it);
            rc = n < 0 ? n : 0;
            break;
        }
        *tail = it;
        tail = &it->next;
    }
    if (rc == ERR_WORKER_DIED)
        worker_death(m->w, &e);
    if (got)
        __atomic_store_n(&m->last_us, now_us(), __ATOMIC_RELAXED);
    pthread_mutex_lock(&m->mu);
    m->reading = 0;
    while (got) {
        struct mux_item *it = got;
        got = it->next;
        it->next = NULL;
        dispatch_locked(m, it, self);
    }
    if (rc < 0)
        fail_locked(m, &e);
    return rc == 1;
}

struct worker_mux *mux_start(struct worker_proc *w)
{
    struct worker_mux *m = xcalloc(1, sizeof *m);
    m->w = w;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->send_mu, NULL);
    proto_reader_init(&m->rd, worker_fd(w));
    m->last_us = now_us();
    return m;
}

void mux_free(struct worker_mux *m)
{
    if (!m)
        return;
    /* Nobody is in mux_recv: the scheduler frees a mux only when no request uses it. */
    shutdown(worker_fd(m->w), SHUT_RDWR);
    while (m->chans)
        mux_close(m, m->chans);
    proto_reader_free(&m->rd);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->send_mu);
    free(m);
}

struct mux_chan *mux_open(struct worker_mux *m, uint64_t id)
{
    struct mux_chan *c = xcalloc(1, sizeof *c);
    c->id = id;
    c->tail = &c->head;
    pthread_cond_init(&c->cond, NULL);
    pthread_mutex_lock(&m->mu);
    c->next = m->chans;
    m->chans = c;
    pthread_mutex_unlock(&m->mu);
    return c;
}

void mux_close(struct worker_mux *m, struct mux_chan *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&m->mu);
    for (struct mux_chan **pp = &m->chans; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&m->mu);
    while (c->head) {
        struct mux_item *it = c->head;
        c->head = it->next;
        proto_msg_free(&it->m);
        free(it);
    }
    pthread_cond_destroy(&c->cond);
    free(c);
}

int mux_send(struct worker_mux *m, const struct proto_msg *msg, struct err *e)
{
    struct err mine = {0};
    pthread_mutex_lock(&m->send_mu);
    int rc = proto_send(worker_fd(m->w), msg, &mine);
    pthread_mutex_unlock(&m->send_mu);
    __atomic_store_n(&m->last_us, now_us(), __ATOMIC_RELAXED);
    if (rc) {
        /* The reader sees the same failure and tells every channel how the worker ended. */
        pthread_mutex_lock(&m->mu);
        if (m->dead)
            mine = m->err;
        pthread_mutex_unlock(&m->mu);
        if (e)
            *e = mine;
        return ERR_WORKER_DIED;
    }
    return 0;
}

int mux_recv(struct worker_mux *m, struct mux_chan *c, struct proto_msg *ev, int timeout_ms,
             struct err *e)
{
    int64_t deadline = now_us() / 1000 + timeout_ms;
    int rc = 1;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        if (c->head) {
            struct mux_item *it = c->head;
            c->head = it->next;
            if (!c->head)
                c->tail = &c->head;
            *ev = it->m;
            free(it);
            rc = 0;
            break;
        }
        if (m->dead) {
            if (e)
                *e = m->err;
            rc = m->err.code == ERR_PROTOCOL ? ERR_PROTOCOL : ERR_WORKER_DIED;
            break;
        }
        int64_t left = deadline - now_us() / 1000;
        if (left <= 0)
            break;
        if (!m->reading) {
            if (lead_locked(m, c, (int)left))
                break;
            continue;
        }
        /* Someone else reads: sleep until it hands us a message or its turn. */
        struct timespec ts;
        deadline_after_ms(&ts, left);
        c->waiting = 1;
        pthread_cond_timedwait(&c->cond, &m->mu, &ts);
        c->waiting = 0;
    }
    /* Leaving: if nobody reads now, wake one waiter to take the turn. */
    if (!m->reading)
        for (struct mux_chan *o = m->chans; o; o = o->next)
            if (o != c && o->waiting && !o->head) {
                pthread_cond_signal(&o->cond);
                break;
            }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

bool mux_dead(struct worker_mux *m)
{
    pthread_mutex_lock(&m->mu);
    bool d = m->dead != 0;
    if (!d && !m->reading) {
        /* Nobody reads: a hang-up shows in poll without taking any byte off the socket. */
        struct pollfd p = {.fd = worker_fd(m->w), .events = POLLRDHUP};
        d = poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
    }
    pthread_mutex_unlock(&m->mu);
    return d;
}

int mux_error(struct worker_mux *m, struct err *e)
{
    pthread_mutex_lock(&m->mu);
    int dead = m->dead;
    if (dead)
        *e = m->err;
    pthread_mutex_unlock(&m->mu);
    return dead;
}

int64_t mux_quiet_ms(struct worker_mux *m)
{
    return (now_us() - __atomic_load_n(&m->last_us, __ATOMIC_RELAXED)) / 1000;
}
