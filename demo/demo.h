/* coro-demo's modes, one file each. */
#ifndef CORO_DEMO_H
#define CORO_DEMO_H

int demo_tutorial(void);

#endif
