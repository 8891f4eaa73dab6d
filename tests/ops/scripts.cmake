# The validation scripts (ops/scripts), the container images (Dockerfile, Dockerfile.cuda) and the
# systemd unit (ops/systemd): each checked against real `omega serve` processes, a real HAProxy
# and the real systemd-analyze. Included by tests/CMakeLists.txt (release pass).
set(OMEGA_OPS_SCRIPTS_ENV "OMEGA_BIN=${OMEGA_TEST_OMEGA};OMEGA_GENMODEL=${OMEGA_TEST_GENMODEL}")

foreach(part cli smoke smoke-lb chaos-oom)
  add_test(NAME ops/scripts/${part}
    COMMAND ${OMEGA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ops/test_scripts.py ${part})
  set_tests_properties(ops/scripts/${part} PROPERTIES LABELS ops TIMEOUT 180 SKIP_RETURN_CODE 77
    ENVIRONMENT "${OMEGA_OPS_SCRIPTS_ENV}")
endforeach()

# Both Dockerfiles statically, then the image's runtime contract on this machine: the installed
# build started with the Dockerfile's ENTRYPOINT/CMD/ENV as uid 10001 on a read-only view of
# the filesystem, probed with its HEALTHCHECK command, stopped with SIGTERM.
add_test(NAME ops/scripts/containers
  COMMAND ${OMEGA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ops/check_containers.py
    --build-dir ${PROJECT_BINARY_DIR} --genmodel ${OMEGA_TEST_GENMODEL})
set_tests_properties(ops/scripts/containers PROPERTIES LABELS ops TIMEOUT 180 SKIP_RETURN_CODE 77)

# systemd-analyze verify and security on ops/systemd/omega.service, and its stop timeout
# against OMEGA_DRAIN_GRACE_MS.
add_test(NAME ops/scripts/systemd
  COMMAND ${OMEGA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ops/check_systemd.py --omega ${OMEGA_TEST_OMEGA})
set_tests_properties(ops/scripts/systemd PROPERTIES LABELS ops TIMEOUT 120 SKIP_RETURN_CODE 77)
