/* Many requests over one worker connection (client.h): a reader thread routes each event to the
 * channel of its request id. */
#include "base/util.h"
#include "engine/client.h"

#include <errno.h>
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
};

struct worker_mux {
    struct worker_proc *w;
    pthread_t reader;
    pthread_mutex_t mu; /* guards chans, dead, err */
    pthread_mutex_t send_mu;
    struct mux_chan *chans;
    int dead;
    int stopping;
    struct err err;
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

static void *reader_main(void *arg)
{
    struct worker_mux *m = arg;
    for (;;) {
        struct mux_item *it = xcalloc(1, sizeof *it);
        struct err e = {0};
        int rc = proto_recv(worker_fd(m->w), &it->m, &e);
        if (rc) {
            proto_msg_free(&it->m);
            free(it);
            pthread_mutex_lock(&m->mu);
            int stopping = m->stopping;
            pthread_mutex_unlock(&m->mu);
            if (stopping)
                err_set(&e, ERR_WORKER_DIED, "the model was unloaded");
            else if (rc == ERR_WORKER_DIED)
                worker_death(m->w, &e);
            pthread_mutex_lock(&m->mu);
            fail_locked(m, &e);
            pthread_mutex_unlock(&m->mu);
            return NULL;
        }
        pthread_mutex_lock(&m->mu);
        struct mux_chan *c = m->chans;
        while (c && c->id != it->m.id)
            c = c->next;
        if (c) {
            *c->tail = it;
            c->tail = &it->next;
            pthread_cond_signal(&c->cond);
            it = NULL;
        }
        pthread_mutex_unlock(&m->mu);
        if (it) { /* a late answer to a request that has gone */
            proto_msg_free(&it->m);
            free(it);
        }
    }
}

struct worker_mux *mux_start(struct worker_proc *w)
{
    struct worker_mux *m = xcalloc(1, sizeof *m);
    m->w = w;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->send_mu, NULL);
    if (pthread_create(&m->reader, NULL, reader_main, m) != 0)
        abort(); /* as for a small allocation: no thread, no server */
    return m;
}

void mux_free(struct worker_mux *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = 1;
    pthread_mutex_unlock(&m->mu);
    shutdown(worker_fd(m->w), SHUT_RDWR);
    pthread_join(m->reader, NULL);
    while (m->chans)
        mux_close(m, m->chans);
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
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->mu);
    while (!c->head && !m->dead)
        if (pthread_cond_timedwait(&c->cond, &m->mu, &ts) == ETIMEDOUT)
            break;
    int rc;
    if (c->head) {
        struct mux_item *it = c->head;
        c->head = it->next;
        if (!c->head)
            c->tail = &c->head;
        *ev = it->m;
        free(it);
        rc = 0;
    } else if (m->dead) {
        if (e)
            *e = m->err;
        rc = m->err.code == ERR_PROTOCOL ? ERR_PROTOCOL : ERR_WORKER_DIED;
    } else {
        rc = 1;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

bool mux_dead(struct worker_mux *m)
{
    pthread_mutex_lock(&m->mu);
    bool d = m->dead != 0;
    pthread_mutex_unlock(&m->mu);
    return d;
}
