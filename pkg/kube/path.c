/* Request paths built from names the API server or a spec gave us. */
#include "kube/kube.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

/* A path holds a few names of at most 253 characters, each escaped to at most
 * three times its length. */
#define PATH_MAX_BYTES 8192

int kube_path_segment(char **out, const char *segment, os_error *err) {
  *out = NULL;
  if (segment[0] == '\0' || strcmp(segment, ".") == 0 || strcmp(segment, "..") == 0)
    return os_error_set(err, OS_EINVAL, "\"%s\" cannot be a name in a request path", segment);
  *out = kube_path_escape(segment);
  return *out ? 0 : os_error_set(err, OS_ENOMEM, "out of memory");
}

static int put_segment(os_buf *b, const char *segment, os_error *err) {
  char *s = NULL;
  int rc = kube_path_segment(&s, segment, err);
  if (rc == 0 && (os_buf_puts(b, "/") < 0 || os_buf_puts(b, s) < 0))
    rc = os_error_set(err, OS_ENOMEM, "request path too long");
  free(s);
  return rc;
}

int kube_object_path(char **out, const char *api, const char *ns, const char *resource,
                     const char *name, const char *subresource, os_error *err) {
  *out = NULL;
  os_buf b;
  os_buf_init(&b, PATH_MAX_BYTES, false);
  int rc = os_buf_puts(&b, api) < 0 ? os_error_set(err, OS_ENOMEM, "request path too long") : 0;
  if (rc == 0 && ns != NULL) {
    rc = os_buf_puts(&b, "/namespaces") < 0 ? os_error_set(err, OS_ENOMEM, "request path too long")
                                            : 0;
    if (rc == 0)
      rc = put_segment(&b, ns, err);
  }
  if (rc == 0)
    rc = put_segment(&b, resource, err);
  if (rc == 0 && name != NULL)
    rc = put_segment(&b, name, err);
  if (rc == 0 && subresource != NULL)
    rc = put_segment(&b, subresource, err);
  if (rc == 0 && os_buf_detach(out, NULL, &b) < 0)
    rc = os_error_set(err, OS_ENOMEM, "out of memory");
  os_buf_free(&b);
  return rc;
}
