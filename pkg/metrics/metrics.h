/* A Prometheus metrics registry: counters, gauges and histograms, each a
 * family with a fixed list of label names whose children (one per tuple of
 * label values) are created on first use, rendered in the text exposition
 * format 0.0.4.
 *
 * Threading: every function is safe from any thread once the family exists.
 * Each family has its own mutex (the hot path takes only that one); the
 * registry's mutex guards the family list. Families live as long as their
 * registry: handles returned by metrics_*_new are borrowed, valid until
 * metrics_registry_free().
 *
 * Label values must never carry secret material (names, results, reasons,
 * HTTP codes only). */
#ifndef ORGSECRETS_METRICS_METRICS_H
#define ORGSECRETS_METRICS_METRICS_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct metrics_registry metrics_registry;
typedef struct metrics_family metrics_family;

/* Children per family beyond this are refused with OS_ENOMEM. */
#define METRICS_MAX_CHILDREN 10000
/* Label names per family, buckets per histogram. */
#define METRICS_MAX_LABELS 8
#define METRICS_MAX_BUCKETS 64
/* Label values longer than this are refused with OS_EINVAL. */
#define METRICS_MAX_LABEL_VALUE 1024

/* Default histogram buckets (seconds), as the Go client's DefBuckets:
 * .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10. */
extern const double metrics_default_buckets[];
extern const size_t metrics_default_buckets_len;

/* New empty registry; caller frees with metrics_registry_free(). */
int metrics_registry_new(metrics_registry **out, os_error *err) OS_NODISCARD;
/* Frees r and all its families; accepts NULL. */
void metrics_registry_free(metrics_registry *r);

/* Registers a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* and not start with "__" (and not be "le" for a
 * histogram). n_labels may be 0 (label_names may then be NULL). A name
 * already registered fails with OS_ECONFLICT. *out is borrowed from r. */
int metrics_counter_new(metrics_family **out, metrics_registry *r, const char *name,
                        const char *help, const char *const *label_names, size_t n_labels,
                        os_error *err) OS_NODISCARD;
int metrics_gauge_new(metrics_family **out, metrics_registry *r, const char *name,
                      const char *help, const char *const *label_names, size_t n_labels,
                      os_error *err) OS_NODISCARD;
/* buckets: strictly increasing finite upper bounds (the +Inf bucket is
 * implicit); NULL/0 means metrics_default_buckets. */
int metrics_histogram_new(metrics_family **out, metrics_registry *r, const char *name,
                          const char *help, const char *const *label_names, size_t n_labels,
                          const double *buckets, size_t n_buckets, os_error *err) OS_NODISCARD;

/* The hot path. label_values holds exactly the family's n_labels strings
 * (NULL when it has none). Returns 0; OS_EINVAL for a wrong family kind, a
 * NULL/oversized label value or a negative counter increment; OS_ENOMEM
 * when a new child would exceed METRICS_MAX_CHILDREN. Callers usually
 * ignore the result: a metric must never fail the operation it measures. */
int metrics_counter_add(metrics_family *f, const char *const *label_values, double delta);
int metrics_counter_inc(metrics_family *f, const char *const *label_values);
int metrics_gauge_set(metrics_family *f, const char *const *label_values, double v);
int metrics_gauge_add(metrics_family *f, const char *const *label_values, double delta);
int metrics_histogram_observe(metrics_family *f, const char *const *label_values, double v);

/* One-label conveniences: same as above with label_values = {value}. */
int metrics_counter_inc1(metrics_family *f, const char *value);
int metrics_gauge_set1(metrics_family *f, const char *value, double v);
int metrics_histogram_observe1(metrics_family *f, const char *value, double v);

/* Removes every child of f (e.g. before re-publishing a gauge by state). */
void metrics_family_reset(metrics_family *f);

/* Reads a child's value: a counter's or gauge's value, a histogram's
 * count. OS_ENOTFOUND when the child was never created. (Tests, and a counter
 * kept in step with a count held elsewhere.) */
int metrics_value_get(double *out, metrics_family *f, const char *const *label_values);

/* Appends the exposition text (version 0.0.4) of r to out: families sorted
 * by name, children sorted by label values, "# HELP" and "# TYPE" lines,
 * label values escaped (\\ \" \n), histograms as cumulative _bucket{le=...}
 * lines ending with le="+Inf", then _sum and _count. A family without
 * children renders only its HELP/TYPE lines (or one zero sample when it has
 * no labels). Returns 0 or OS_ENOMEM (out's maximum). Content type:
 * METRICS_CONTENT_TYPE. */
int metrics_render(os_buf *out, const metrics_registry *r);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
