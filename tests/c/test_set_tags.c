/*
** test_set_tags.c -- what an add-wins set's remove takes away: exactly the add tags its author
** saw, including a device's older tags of an element it added again. The first two are cases
** a scheme that drops older tags to bound the set's state must keep; the third pins today's
** answer where a device's own pending delete had hidden its older tag, which an attempt that
** dropped tags on the server changed by accident (docs/DESIGN.md, "Noticed and left") and a
** set with causal contexts would change on purpose.
*/
#include "internal.h"
#include "world.h"

#define NOTES "notes"

/* How many add tags `db` stores for element `elem` of n1's set field `tags`. */
static int tag_count(sloop_db *db, const char *elem) {
  char sql[200], *out = NULL;
  snprintf(sql, sizeof(sql),
           "SELECT coalesce(json_array_length(sloop_state(state, doc), '$.f.tags.a.%s'), 0)"
           " FROM records WHERE coll = 'notes' AND id = 'n1'", elem);
  assert_ok(db, sloop_sql(db, sql, strlen(sql), &out, NULL));
  cJSON *rows = cJSON_Parse(out);
  sloop_free(out);
  const cJSON *n = cJSON_GetArrayItem(cJSON_GetArrayItem(rows, 0), 0);
  assert_true(cJSON_IsNumber(n));
  int count = n->valueint;
  cJSON_Delete(rows);
  return count;
}

/* While a re-add is pending, the device's view keeps the older tag beside the new one, so a
** remove made offline names both. The re-add is then refused by the server (its patch also
** sets a first-writer-wins field another device set first): the server never drops the older
** tag, and the remove must still take the element away. A view compacted like the server's
** state would have named only the refused add's tag and left the element in place. */
static void a_remove_after_a_refused_re_add_still_removes(void **unused) {
  world w;
  world_open(&w, 2, 42, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\", \"tags\": [\"a\"]}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 1, NOTES, "n1", "{\"createdBy\": \"bob\"}");
  world_sync(&w, 1);
  world_patch(&w, 0, NOTES, "n1", "{\"createdBy\": \"ann\", \"tags\": {\"$add\": [\"a\"]}}");
  assert_int_equal(tag_count(w.clients[0], "a"), 2);
  world_patch(&w, 0, NOTES, "n1", "{\"tags\": {\"$remove\": [\"a\"]}}");
  world_assert_doc(w.clients[0], NOTES, "n1", "{\"createdBy\":\"ann\",\"tags\":[],\"title\":\"t\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_assert_doc(w.server, NOTES, "n1", "{\"createdBy\":\"bob\",\"tags\":[],\"title\":\"t\"}");
  world_assert_doc(w.clients[0], NOTES, "n1", "{\"createdBy\":\"bob\",\"tags\":[],\"title\":\"t\"}");
  world_assert_doc(w.clients[1], NOTES, "n1", "{\"createdBy\":\"bob\",\"tags\":[],\"title\":\"t\"}");
  world_close(&w);
}

/* Another device's remove made before it saw a re-add takes only the tag it saw: the re-add
** survives (add wins), as it would had the older tag been kept. */
static void a_concurrent_re_add_survives_a_remove_of_the_older_tag(void **unused) {
  world w;
  world_open(&w, 2, 43, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\", \"tags\": [\"a\"]}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 0, NOTES, "n1", "{\"tags\": {\"$add\": [\"a\"]}}");
  world_sync(&w, 0);
  assert_int_equal(tag_count(w.server, "a"), 2); /* the first add and the re-add */
  world_patch(&w, 1, NOTES, "n1", "{\"tags\": {\"$remove\": [\"a\"]}}");
  world_sync(&w, 1);
  world_sync(&w, 0);
  world_assert_doc(w.server, NOTES, "n1", "{\"tags\":[\"a\"],\"title\":\"t\"}");
  world_assert_doc(w.clients[0], NOTES, "n1", "{\"tags\":[\"a\"],\"title\":\"t\"}");
  world_assert_doc(w.clients[1], NOTES, "n1", "{\"tags\":[\"a\"],\"title\":\"t\"}");
  world_close(&w);
}

/* A device deletes a record, recreates it with an element it had added before, then replaces
** the set: its remove names only the new tag, the one its view showed (its own delete had
** cleared the older one). Another device's newer put keeps the record alive on the server, so
** the delete never takes effect there, the older tag survives, and the element stays: on the
** server and, once synced, on both devices alike. */
static void a_remove_takes_only_the_tags_its_author_saw(void **unused) {
  world w;
  world_open(&w, 2, 45, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\", \"tags\": [\"c\"]}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_tick(&w, 10);
  assert_ok(w.clients[0], sloop_delete(w.clients[0], S(NOTES), "n1", 2));
  world_tick(&w, 10);
  world_put(&w, 1, NOTES, "n1", "{\"title\": \"kept\"}");
  world_sync(&w, 1);
  world_tick(&w, 10);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"again\", \"tags\": [\"c\"]}");
  world_tick(&w, 10);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"again\", \"tags\": [\"d\"]}");
  world_assert_doc(w.clients[0], NOTES, "n1", "{\"tags\":[\"d\"],\"title\":\"again\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_assert_doc(w.server, NOTES, "n1", "{\"tags\":[\"c\",\"d\"],\"title\":\"again\"}");
  world_assert_doc(w.clients[0], NOTES, "n1", "{\"tags\":[\"c\",\"d\"],\"title\":\"again\"}");
  world_assert_doc(w.clients[1], NOTES, "n1", "{\"tags\":[\"c\",\"d\"],\"title\":\"again\"}");
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_remove_after_a_refused_re_add_still_removes),
      cmocka_unit_test(a_concurrent_re_add_survives_a_remove_of_the_older_tag),
      cmocka_unit_test(a_remove_takes_only_the_tags_its_author_saw),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
