/*
 * coro-demo serve: what the server's machinery (serve.c: the command, the
 * listener, one task per connection, signals, the summary) shares with its
 * protocols (serve-http.c, serve-resp.c).
 *
 * A process runs one server on one scheduler, so its state is global: the
 * struct serve below, and two buffers that every connection's task uses in
 * turn. A task reads into serve_in, and its protocol answers the whole
 * requests there straight from it, into serve_out, which the task then
 * writes out; only a partial request, or an answer that the socket cannot
 * take at once, is copied into a buffer of the connection's own (so that
 * the task may wait while others use the shared ones). An idle connection
 * thus holds no buffer at all, only its small struct and its task's stack.
 */
#ifndef CORO_DEMO_SERVE_H
#define CORO_DEMO_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <coro.h>

struct serve_stats {
    uint64_t connections; /* accepted */
    uint64_t requests;    /* answered */
    uint64_t errors;      /* connections that ended with an error, failed accepts */
};

/* One connection; its task's argument. */
struct serve_conn {
    struct serve_conn *prev, *next; /* in serve.conns */
    int fd;
    unsigned char idle;  /* waiting for a new request, holding nothing */
    unsigned char close; /* close once the answers so far are written */
    unsigned char error; /* ... because of an error (counted by whoever set it) */
    char *in;            /* a partial request (malloc'd), or NULL */
    size_t in_len, in_cap;
    /* The protocol's own state between two calls of its handler. */
    uint64_t discard; /* http: request body bytes still to skip */
    size_t scan;      /* http: bytes of a partial header already searched */
};

struct serve_proto {
    const char *name;  /* "http", "resp" */
    int port;          /* the default port */
    size_t max_partial; /* the largest partial request a connection keeps */
    /*
     * Answer the whole requests at the front of p[0..n), in order, into
     * serve_out; return the bytes they took. Stop early when serve_out has
     * no room for the next answer (serve_room() notes what it needs: the
     * caller writes out what is there and calls again), or when the
     * connection must close (c->close, after the answer that says why).
     * A partial request at the end is left: the next call has it again,
     * with more bytes after it. Nothing here may wait.
     */
    size_t (*handle)(struct serve_conn *c, const char *p, size_t n);
    /* A partial request reached max_partial: answer so (and set c->close). */
    void (*too_large)(struct serve_conn *c);
    int (*init)(void); /* 0, or -1 (reported); NULL: nothing to do */
    void (*fini)(void);
};

extern const struct serve_proto serve_http, serve_resp;

/* The process's server. */
struct serve {
    const struct serve_proto *proto;
    const char *who;      /* "serve http", "serve http worker 2/4": for errors */
    int64_t idle_timeout; /* for a new request and for writes; CORO_FOREVER: none */
    int stopping;         /* SIGINT or SIGTERM came: finish, do not wait for more */
    struct serve_stats stats;
};
extern struct serve serve;

/* The answers of the batch being handled. */
struct serve_out {
    char *buf;
    size_t len, cap;
    size_t want; /* set by serve_room() when there was not enough */
};
extern struct serve_out serve_out;

/* Is there room for n more bytes in serve_out? If not, note it. */
static inline int
serve_room(size_t n)
{
    if (serve_out.cap - serve_out.len >= n)
        return 1;
    serve_out.want = n;
    return 0;
}

/* Append (after serve_room() said yes). */
static inline void
serve_put(const void *p, size_t n)
{
    memcpy(serve_out.buf + serve_out.len, p, n);
    serve_out.len += n;
}

#define SERVE_PUTS(s) serve_put((s), sizeof(s) - 1)

/* Append v in decimal (room: 20 bytes, 21 with a sign). */
void serve_put_i64(int64_t v);
void serve_put_u64(uint64_t v);

/* The connection ends with an error: count it (once), and make its close
 * a lingering one. */
void serve_fail(struct serve_conn *c);

/* ASCII case-insensitive: p[0..n) is lower (lower case, NUL-terminated). */
int serve_is(const char *p, size_t n, const char *lower);

#endif
