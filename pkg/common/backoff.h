/* The one backoff with jitter, on the CSPRNG: every retry (API requests,
 * watches, the controller's passes) waits os_backoff_delay(), so replicas
 * and clients started together do not retry in step.
 * Threading: reentrant (OpenSSL's RAND is thread-safe). */
#ifndef ORGSECRETS_COMMON_BACKOFF_H
#define ORGSECRETS_COMMON_BACKOFF_H

/* A uniform number in [0, 1) from RAND_bytes; 0.5 when the generator fails
 * (never rand(): unseeded, it makes every process draw the same). */
double os_random_unit(void);

/* Exponential backoff with "equal jitter": with d = min(cap, base *
 * 2^attempt) (attempt 0 is the first retry), a delay in [d/2, d] drawn by
 * os_random_unit(). Half the delay keeps growing for sure; the other half
 * spreads the retriers. base > 0, cap >= base, in seconds. */
double os_backoff_delay(unsigned attempt, double base, double cap);

/* The same with the random unit u in [0, 1] given (clamped): for tests. */
double os_backoff_jitter(unsigned attempt, double base, double cap, double u);

#endif
