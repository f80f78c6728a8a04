/*
 * fuzz_json.c — what the JSON layer (json.c) decodes of a worker's
 * answers: a row, a reply, an ERROR frame's data (split out of the
 * payload as conn.c does, ward__err_get), and a ward.doctor answer.
 *
 * Invariants:
 * - a row that does not decode comes with a sentence naming the method,
 *   the stream and the row; one that does is the value a reply of the
 *   same bytes decodes to;
 * - a reply that does not decode is WARD_EPROTO; an error's data that does
 *   not decode is no value, not a failure;
 * - a decoded value encodes and decodes back to an equal value;
 * - a doctor report has one check per entry, each named, with a known
 *   status, and `worst` is the worst of them.
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"
#include "worker.h"

static void check_round_trip(const json_t *v) {
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  FUZZ_CHECK(text != NULL);
  json_error_t err;
  json_t *again = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  FUZZ_CHECK(again != NULL && json_equal(v, again));
  json_decref(again);
  free(text);
}

static void check_doctor(const json_t *res) {
  ward_doctor_report *r = NULL;
  int rv = ward__doctor_decode(&r, res);
  FUZZ_CHECK(rv == 0 || rv == WARD_EPROTO || rv == WARD_ENOMEM);
  if (rv) {
    FUZZ_CHECK(r == NULL);
    return;
  }
  json_t *list = json_object_get(res, "checks");
  FUZZ_CHECK(r->count == json_array_size(list));
  int worst = WARD_CHECK_PASS;
  for (size_t i = 0; i < r->count; i++) {
    FUZZ_CHECK(r->checks[i].name && r->checks[i].message);
    FUZZ_CHECK(r->checks[i].status >= WARD_CHECK_PASS && r->checks[i].status <= WARD_CHECK_ERROR);
    if (r->checks[i].status > worst)
      worst = r->checks[i].status;
  }
  FUZZ_CHECK(r->worst == worst);
  ward_doctor_report_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char why[220] = "";
  json_t *row = ward__json_row("m", "out", 7, data, size, why, sizeof why);
  json_t *reply = NULL;
  int rv = ward__json_answer(&reply, "m", WARD_OK, data, size);
  FUZZ_CHECK(rv == 0 || rv == WARD_EPROTO);
  FUZZ_CHECK((rv == 0) == (reply != NULL) && (row != NULL) == (reply != NULL));
  if (row) {
    FUZZ_CHECK(json_equal(row, reply));
    check_round_trip(row);
    check_doctor(row);
  } else {
    FUZZ_CHECK(strncmp(why, "'m' stream 'out' row 7: invalid JSON: ", 38) == 0);
  }
  json_decref(row);
  json_decref(reply);

  /* The same bytes as an ERROR payload: message, then data. */
  const char *msg;
  const uint8_t *d;
  size_t mlen, dlen;
  if (ward__err_get(data, size, &msg, &mlen, &d, &dlen) == 0) {
    json_t *v = (json_t *)1;
    FUZZ_CHECK(ward__json_answer(&v, "m", WARD_EREMOTE, d, dlen) == 0);
    if (v) {
      check_round_trip(v);
      json_t *wrapped = json_pack("{s:O}", "checks", v);
      FUZZ_CHECK(wrapped != NULL);
      check_doctor(wrapped);
      json_decref(wrapped);
    }
    json_decref(v);
  }
  return 0;
}
