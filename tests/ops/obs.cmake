# Prometheus rules and the Grafana dashboard (ops/prometheus, ops/grafana).
set(OMEGA_OBS_PROM ${PROJECT_SOURCE_DIR}/ops/prometheus)
file(GLOB OMEGA_OBS_PROM_TESTS CONFIGURE_DEPENDS ${OMEGA_OBS_PROM}/tests/*.yml)

# promtool check rules: both rule files are valid (syntax, PromQL, templates)
add_test(NAME ops/obs_promtool_check COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/ops/promtool_rules.sh check
  ${OMEGA_OBS_PROM}/omega-accel-alerts.yml ${OMEGA_OBS_PROM}/omega-recording-rules.yml)
# promtool test rules: the unit tests (series that fire and do not fire each alert; recording values)
add_test(NAME ops/obs_promtool_test COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/ops/promtool_rules.sh test
  ${OMEGA_OBS_PROM_TESTS})
# every alert: severity, summary, description, runbook_url; a unit test where it fires and one where it does not
add_test(NAME ops/obs_alert_rules COMMAND ${OMEGA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ops/check_alert_rules.py
  --alerts ${OMEGA_OBS_PROM}/omega-accel-alerts.yml --tests ${OMEGA_OBS_PROM}/tests)
# every alert has its runbook section "### AlertName" in docs/OPERATIONS.md (skips while the file is absent)
add_test(NAME ops/obs_runbooks COMMAND ${OMEGA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ops/check_alert_rules.py
  --alerts ${OMEGA_OBS_PROM}/omega-accel-alerts.yml --runbooks ${PROJECT_SOURCE_DIR}/docs/OPERATIONS.md)
# the dashboard model, its PromQL (promtool), and every metric of the dashboard and the rules
# against a live omega serve
add_test(NAME ops/obs_dashboard COMMAND ${OMEGA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ops/check_dashboard.py
  --dashboard ${PROJECT_SOURCE_DIR}/ops/grafana/omega-acceleration-dashboard.json
  --rules ${OMEGA_OBS_PROM}/omega-accel-alerts.yml --rules ${OMEGA_OBS_PROM}/omega-recording-rules.yml
  --omega ${OMEGA_TEST_OMEGA} --genmodel ${OMEGA_TEST_GENMODEL})

set_tests_properties(ops/obs_promtool_check ops/obs_promtool_test ops/obs_alert_rules ops/obs_runbooks
  PROPERTIES LABELS ops SKIP_RETURN_CODE 77 TIMEOUT 120)
set_tests_properties(ops/obs_dashboard PROPERTIES LABELS ops SKIP_RETURN_CODE 77 TIMEOUT 180)

# the rules in a real Prometheus scraping live servers (simulated GPU with injected OOMs, one
# with a sticky error, one CPU-only): the expected alerts fire or go pending, none on the CPU-only one
add_test(NAME ops/obs_rules_live COMMAND ${OMEGA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ops/check_rules_live.py
  --rules-dir ${OMEGA_OBS_PROM} --omega ${OMEGA_TEST_OMEGA} --genmodel ${OMEGA_TEST_GENMODEL})
set_tests_properties(ops/obs_rules_live PROPERTIES LABELS ops SKIP_RETURN_CODE 77 TIMEOUT 180)
