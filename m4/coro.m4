# libcoro's own autoconf macros.

# CORO_CHECK_CFLAG(FLAG, [ACTION-IF-SUPPORTED], [ACTION-IF-NOT])
# Does the C compiler accept FLAG without a warning?
AC_DEFUN([CORO_CHECK_CFLAG], [
  AS_VAR_PUSHDEF([cache], [coro_cv_cflag_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [cache], [
    coro_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -Werror $1"
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([cache], [yes])], [AS_VAR_SET([cache], [no])])
    CFLAGS=$coro_save_CFLAGS])
  AS_VAR_IF([cache], [yes], [$2], [$3])
  AS_VAR_POPDEF([cache])
])

# CORO_CHECK_CXXFLAG(FLAG, [ACTION-IF-SUPPORTED], [ACTION-IF-NOT])
# The same for the C++ compiler; call it between AC_LANG_PUSH/POP([C++]).
AC_DEFUN([CORO_CHECK_CXXFLAG], [
  AS_VAR_PUSHDEF([cache], [coro_cv_cxxflag_$1])
  AC_CACHE_CHECK([whether $CXX accepts $1], [cache], [
    coro_save_CXXFLAGS=$CXXFLAGS
    CXXFLAGS="$CXXFLAGS -Werror $1"
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
      [AS_VAR_SET([cache], [yes])], [AS_VAR_SET([cache], [no])])
    CXXFLAGS=$coro_save_CXXFLAGS])
  AS_VAR_IF([cache], [yes], [$2], [$3])
  AS_VAR_POPDEF([cache])
])

# CORO_CHECK_TLS: the compiler must support __thread (each thread runs its own coroutines).
AC_DEFUN([CORO_CHECK_TLS], [
  AC_CACHE_CHECK([for __thread], [coro_cv_tls], [
    AC_LINK_IFELSE([AC_LANG_PROGRAM([static __thread int x;], [x = 1; return x - 1;])],
      [coro_cv_tls=yes], [coro_cv_tls=no])])
  AS_IF([test "x$coro_cv_tls" != xyes],
    [AC_MSG_ERROR([libcoro needs a compiler with thread-local storage (__thread)])])
])

# CORO_CHECK_PTHREAD: the flag that builds threaded programs (tests and demo); sets PTHREAD_CFLAGS/LIBS.
AC_DEFUN([CORO_CHECK_PTHREAD], [
  AC_CACHE_CHECK([how to build threaded programs], [coro_cv_pthread], [
    coro_cv_pthread=none
    coro_save_CFLAGS=$CFLAGS
    for f in -pthread -lpthread; do
      CFLAGS="$coro_save_CFLAGS $f"
      AC_LINK_IFELSE([AC_LANG_PROGRAM([#include <pthread.h>
static void *f(void *a) { return a; }],
          [pthread_t t; pthread_create(&t, 0, f, 0); pthread_join(t, 0);])],
        [coro_cv_pthread=$f; break])
    done
    CFLAGS=$coro_save_CFLAGS])
  AS_IF([test "x$coro_cv_pthread" = xnone], [AC_MSG_ERROR([POSIX threads are needed])])
  PTHREAD_CFLAGS=$coro_cv_pthread
  PTHREAD_LIBS=$coro_cv_pthread
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])

# CORO_CHECK_FAST_SWITCH: is there an assembly switch for this target (LP64
# x86_64 or aarch64)? Sets coro_cv_fast_switch to yes or no.
AC_DEFUN([CORO_CHECK_FAST_SWITCH], [
  AC_CACHE_CHECK([for a fast context switch for $host_cpu], [coro_cv_fast_switch], [
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[
#if !((defined(__x86_64__) && !defined(__ILP32__)) || (defined(__aarch64__) && !defined(__ILP32__)))
#error no fast switch here
#endif
]], [])], [coro_cv_fast_switch=yes], [coro_cv_fast_switch=no])])
])
