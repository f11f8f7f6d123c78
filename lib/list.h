/* Intrusive doubly linked lists with a sentinel head: O(1) push, pop and
 * unlink, no allocation. An unlinked node points at itself. */
#ifndef CORO_LIST_H
#define CORO_LIST_H

#include <stddef.h>

struct coro__link {
    struct coro__link *prev, *next;
};

#define coro__container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void
coro__list_init(struct coro__link *l)
{
    l->prev = l->next = l;
}

static inline int
coro__list_empty(const struct coro__link *l)
{
    return l->next == l;
}

static inline void
coro__list_push(struct coro__link *head, struct coro__link *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void
coro__list_unlink(struct coro__link *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* The first node, unlinked, or NULL when the list is empty. */
static inline struct coro__link *
coro__list_pop(struct coro__link *head)
{
    struct coro__link *n = head->next;

    if (n == head)
        return NULL;
    coro__list_unlink(n);
    return n;
}

#endif /* CORO_LIST_H */
