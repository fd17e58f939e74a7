/* sim_int.h - private to the simulator: a seeded PRNG (xoshiro256**, seeded
 * through splitmix64) and the samplers built on it. Deterministic for a seed,
 * independent of libc's rand(), one state per thread (no globals). */
#ifndef CROWDSKY_SIM_INT_H
#define CROWDSKY_SIM_INT_H

#include <stdint.h>

struct cs__sim_rng {
        uint64_t s[4];
        double spare;  /* second Box-Muller deviate */
        int has_spare;
};

/* Seeds the state from (seed, stream): different streams of one seed are
 * independent sequences (one per frame, so threads do not change results). */
void cs__sim_rng_seed(struct cs__sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t cs__sim_rng_u64(struct cs__sim_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double cs__sim_rng_uniform(struct cs__sim_rng *r);
/* Uniform integer in [0, n), n > 0. */
uint64_t cs__sim_rng_below(struct cs__sim_rng *r, uint64_t n);
/* Standard normal (Box-Muller, polar form). */
double cs__sim_rng_normal(struct cs__sim_rng *r);
/* Poisson with mean lam >= 0: multiplication method below 10, Hormann's
 * PTRS transformed rejection above. */
double cs__sim_rng_poisson(struct cs__sim_rng *r, double lam);

#endif
