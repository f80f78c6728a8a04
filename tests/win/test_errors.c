/*
 * test_errors.c — the Windows backend's error sentences say what Windows
 * said: a system error code (GetLastError) is put in words by the system
 * (FormatMessageW, in UTF-8), not by the C library's strerror, which
 * knows only errno values ("Unknown error (997)"). Windows only
 * (cmake/windows.cmake).
 */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "tself.h"
#include "ward_int.h"

/* The system's own words for `code`, as the test finds them. */
static void system_words(DWORD code, char *out, size_t cap) {
  char buf[512];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                           code, 0, buf, sizeof buf, NULL);
  while (n > 0 && strchr("\r\n .", buf[n - 1]))
    n--;
  T_TRUE(n > 0);
  snprintf(out, cap, "%.*s", (int)n, buf);
}

/* A refused spawn: the sentence holds what Windows said of its code. */
static void test_refused_spawn_says_why(void) {
  ward_host *h;
  T_OK(ward_host_new(&h, NULL));
  char path[4200];
  t_tmp_path(path, sizeof path, "ward-no-such-program.exe");
  ward_spec *s;
  T_OK(ward_spec_new(&s, "missing", path));
  ward_worker *w = NULL;
  T_ERR(ward_spawn(&w, h, s), WARD_ESPAWN);
  int code = ward_last_errno();
  const char *said = ward_last_error();
  fprintf(stderr, "   code %d: %s\n", code, said);
  T_TRUE(code == ERROR_FILE_NOT_FOUND || code == ERROR_PATH_NOT_FOUND);
  char want[512];
  system_words((DWORD)code, want, sizeof want);
  T_TRUE(strstr(said, want) != NULL);
  T_TRUE(strstr(said, "Unknown error") == NULL);
  ward_spec_free(s);
  ward_host_free(h);
}

/* The formatting alone: words for a known code, a number for an unknown
 * one, and C library errnos still in the C library's words. */
static void test_sys_text(void) {
  char got[256], want[512];
  system_words(ERROR_IO_PENDING, want, sizeof want);
  T_EQ_STR(ward__sys_text(ERROR_IO_PENDING, got, sizeof got), want);
  T_EQ_STR(ward__sys_text(0x2FFFFFFF, got, sizeof got), "error 805306367");
  T_ERR(ward__fail_errno(WARD_ESPAWN, ENOTSUP, "sandbox"), WARD_ESPAWN);
  snprintf(want, sizeof want, "sandbox: %s", strerror(ENOTSUP));
  T_EQ_STR(ward_last_error(), want);
  T_EQ_INT(ward_last_errno(), ENOTSUP);
}

int main(void) {
  T_RUN(test_refused_spawn_says_why);
  T_RUN(test_sys_text);
  return t_done();
}
