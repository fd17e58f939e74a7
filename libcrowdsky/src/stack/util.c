/* util.c - selection (quickselect) and clocks for the stacking engine. */
#include <time.h>

#include "stack/stack_int.h"

#define SELECT_BODY(T)                                                                     \
        size_t lo = 0, hi = n - 1;                                                         \
        while (hi > lo) {                                                                  \
                /* median of three as pivot keeps sorted input linear */                   \
                size_t mid = lo + (hi - lo) / 2;                                           \
                T x = a[lo], y = a[mid], z = a[hi], piv, t;                                \
                if (x > y) { t = x; x = y; y = t; }                                        \
                if (y > z) { y = z; }                                                      \
                piv = x > y ? x : y;                                                       \
                size_t i = lo, j = hi;                                                     \
                while (i <= j) {                                                           \
                        while (a[i] < piv) i++;                                            \
                        while (a[j] > piv) j--;                                            \
                        if (i <= j) {                                                      \
                                t = a[i]; a[i] = a[j]; a[j] = t;                           \
                                i++;                                                       \
                                if (j == 0) break;                                         \
                                j--;                                                       \
                        }                                                                  \
                }                                                                          \
                if (k <= j)                                                                \
                        hi = j;                                                            \
                else if (k >= i)                                                           \
                        lo = i;                                                            \
                else                                                                       \
                        break;                                                             \
        }                                                                                  \
        return a[k];

float cs__select_f32(float *a, size_t n, size_t k)
{
        SELECT_BODY(float)
}

double cs__select_f64(double *a, size_t n, size_t k)
{
        SELECT_BODY(double)
}

double cs__now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double cs__thread_cpu(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
