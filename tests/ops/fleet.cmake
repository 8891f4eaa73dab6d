# The local fleet (ops/local/fleet.sh: 3 omega serve instances, a real HAProxy, a real Prometheus,
# loopback only) and the scenarios CI runs against it, one fleet per test:
#   ops/fleet-validate  the smoke, hardening and chaos-OOM scripts of ops/scripts against the fleet
#   ops/fleet-canary    a healthy canary is promoted; a slow, OOMing one is rolled back after the
#                       automatic CPU fallback did not help; an OOMing one is saved by that fallback
#   ops/fleet-rolling   a rolling restart of every instance under steady load, zero failed requests
#   ops/fleet-drill     ops/scripts/omega-chaos-drill.sh against the fleet
# They share the machine's CPUs with their load, so they never run at the same time (RESOURCE_LOCK).
foreach(scenario validate canary rolling drill)
  add_test(NAME ops/fleet-${scenario}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/ops/fleet_scenario.sh ${scenario}
            ${OMEGA_TEST_OMEGA} ${OMEGA_TEST_GENMODEL})
  set_tests_properties(ops/fleet-${scenario} PROPERTIES LABELS ops SKIP_RETURN_CODE 77 TIMEOUT 240
    RESOURCE_LOCK omega-fleet)
endforeach()
