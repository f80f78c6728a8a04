/*
 * test_json.c — typed payloads: the JSON layer (jansson), MessagePack
 * round trips (msgpack-c), validation at the boundary, handshake
 * requirements and the doctor.
 */
#include "test.h"
#include "tworker.h"

static ward_host *host;

static ward_worker *spawn_with(ward_spec *s) {
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  return w;
}

static void test_json_round_trip(void) {
  ward_worker *w = spawn_with(tw_spec("json", "serve"));
  json_t *params = json_pack("{s:i, s:i}", "a", 40, "b", 2);
  json_t *res = NULL;
  T_OK(ward_request_json(&res, w, "json_sum", params, 10000));
  T_EQ_INT(json_integer_value(json_object_get(res, "sum")), 42);
  json_decref(res);
  json_decref(params);

  /* A remote error carries its data as JSON. */
  T_ERR(ward_request_json(&res, w, "json_fail", NULL, 10000), WARD_EREMOTE);
  T_EQ_STR(json_string_value(json_object_get(res, "field")), "x");
  T_TRUE(strstr(ward_last_error(), "code 7: bad field") != NULL);
  json_decref(res);

  /* Params that are not JSON: the worker's decode error names the method. */
  ward_msg *m = NULL;
  T_ERR(ward_request(&m, w, "json_sum", "{bad", 4, 10000), WARD_EREMOTE);
  T_EQ_INT(ward_msg_code(m), WARD_EPROTO);
  T_TRUE(strstr(ward_msg_error(m), "json_sum") != NULL);
  ward_msg_free(m);

  /* A reply that is not JSON: the host's decode error names the method. */
  T_ERR(ward_request_json(&res, w, "bad_json_reply", NULL, 10000), WARD_EPROTO);
  T_TRUE(res == NULL);
  T_TRUE(strstr(ward_last_error(), "bad_json_reply") != NULL);
  ward_worker_free(w);
}

struct rows {
  int n;
  long sum;
};

static void on_json_row(const char *stream, uint64_t seq, json_t *row, void *ud) {
  struct rows *r = ud;
  T_EQ_STR(stream, "items");
  T_EQ_INT(json_integer_value(json_object_get(row, "i")), (long long)seq);
  r->n++;
  r->sum += json_integer_value(json_object_get(row, "i"));
}

static void test_json_rows(void) {
  ward_worker *w = spawn_with(tw_spec("jrows", "serve"));
  struct rows r = {0, 0};
  json_t *res = NULL;
  /* Three good rows are delivered; the fourth is not JSON: the call ends
   * EPROTO naming its stream and sequence number. */
  T_ERR(ward_request_json_ex(&res, w, "json_rows", NULL, NULL, on_json_row, &r), WARD_EPROTO);
  T_EQ_INT(r.n, 3);
  T_EQ_INT(r.sum, 6);
  T_TRUE(strstr(ward_last_error(), "stream 'items' row 4") != NULL);
  T_TRUE(strstr(ward_last_error(), "json_rows") != NULL);
  ward_worker_free(w);
}

static void test_msgpack_round_trip(void) {
  ward_worker *w = spawn_with(tw_spec("mp", "serve"));
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  msgpack_pack_str(&pk, 1);
  msgpack_pack_str_body(&pk, "a", 1);
  msgpack_pack_int(&pk, 40);
  msgpack_pack_str(&pk, 1);
  msgpack_pack_str_body(&pk, "b", 1);
  msgpack_pack_int(&pk, -2);
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.encoding = WARD_ENC_MSGPACK;
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "mp_sum", sb.data, sb.size, &o));
  msgpack_sbuffer_destroy(&sb);
  T_EQ_INT(ward_msg_encoding(m), WARD_ENC_MSGPACK);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  T_TRUE(msgpack_unpack_next(&u, ward_msg_data(m), ward_msg_len(m), NULL) ==
         MSGPACK_UNPACK_SUCCESS);
  T_EQ_INT(u.data.type, MSGPACK_OBJECT_MAP);
  T_EQ_INT(u.data.via.map.size, 1);
  T_EQ_INT(u.data.via.map.ptr[0].val.via.i64, 38);
  msgpack_unpacked_destroy(&u);
  ward_msg_free(m);
  ward_worker_free(w);
}

static void test_validation(void) {
  /* Off (the default): the tag is trusted, the bytes pass through. */
  ward_worker *w = spawn_with(tw_spec("novalid", "serve"));
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "bad_json_reply", NULL, 0, 10000));
  T_EQ_INT(ward_msg_len(m), 5);
  ward_msg_free(m);
  ward_worker_free(w);
  /* On: a reply tagged JSON that does not parse ends its call EPROTO,
   * and the worker stays. */
  ward_spec *s = tw_spec("valid", "serve");
  T_OK(ward_spec_validate_json(s, 1));
  w = spawn_with(s);
  int pid = ward_worker_pid(w);
  T_ERR(ward_request(&m, w, "bad_json_reply", NULL, 0, 10000), WARD_EPROTO);
  T_TRUE(m == NULL);
  T_OK(ward_request(&m, w, "echo", "[1,2]", 5, 10000));
  ward_msg_free(m);
  T_EQ_INT(ward_worker_pid(w), pid);
  ward_worker_free(w);
}

static void test_requirements(void) {
  ward_spec *s = tw_spec("req", "serve");
  T_OK(ward_spec_require_method(s, "echo"));
  T_OK(ward_spec_require_version(s, "1.2", "2"));
  ward_worker *w = spawn_with(s);
  ward_worker_free(w);

  s = tw_spec("req", "serve");
  T_OK(ward_spec_require_method(s, "teleport"));
  ward_worker *bad = (ward_worker *)1;
  T_ERR(ward_spawn(&bad, host, s), WARD_EHANDSHAKE);
  T_TRUE(strstr(ward_last_error(), "teleport") != NULL);
  ward_spec_free(s);

  s = tw_spec("req", "serve");
  T_OK(ward_spec_require_version(s, "1.10", NULL)); /* 1.2.3 < 1.10 */
  T_ERR(ward_spawn(&bad, host, s), WARD_EHANDSHAKE);
  T_TRUE(strstr(ward_last_error(), "1.2.3") != NULL);
  ward_spec_free(s);

  s = tw_spec("req", "serve");
  T_OK(ward_spec_require_version(s, NULL, "1.2.3")); /* below is exclusive */
  T_ERR(ward_spawn(&bad, host, s), WARD_EHANDSHAKE);
  ward_spec_free(s);
}

static void test_doctor(void) {
  ward_worker *w = spawn_with(tw_spec("doctor", "serve"));
  ward_doctor_report *r = NULL;
  T_OK(ward_doctor(&r, w, 10000));
  T_EQ_INT(r->count, 2);
  T_EQ_STR(r->checks[0].name, "config");
  T_EQ_INT(r->checks[0].status, WARD_CHECK_PASS);
  T_EQ_STR(r->checks[1].message, "cold");
  T_EQ_INT(r->worst, WARD_CHECK_WARNING);
  ward_doctor_report_free(r);
  ward_worker_free(w);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  T_OK(ward_host_new(&host, NULL));
  T_RUN(test_json_round_trip);
  T_RUN(test_json_rows);
  T_RUN(test_msgpack_round_trip);
  T_RUN(test_validation);
  T_RUN(test_requirements);
  T_RUN(test_doctor);
  ward_host_free(host);
  return t_done();
}
