/* main.c - a tiny C program built against libguestloop taken with FetchContent. */
#include <guestloop/guestloop.h>
#include <stdio.h>

static int child(void *arg)
{
  int *count = arg;
  int rc = gloop_sleep(0.001);
  if (rc == 0) ++*count;
  return rc;
}

static int main_task(void *arg)
{
  int *count = arg;
  gloop_nursery *n;
  int rc = gloop_nursery_open(&n);
  if (rc < 0) return rc;
  for (int i = 0; i < 3 && rc == 0; i++) rc = gloop_nursery_start(n, child, count, "child", NULL);
  int closed = gloop_nursery_close(n);
  return rc ? rc : closed;
}

int main(void)
{
  int count = 0;
  int rc = gloop_run(main_task, &count, NULL, NULL, NULL);
  printf("guestloop %s from FetchContent: %d tasks ran (%s)\n", gloop_version_string(), count,
         gloop_err_name(rc));
  return rc == 0 && count == 3 ? 0 : 1;
}
