package containers_test

const childEnv = "PIPECHAOS_CONTAINERS_PANIC_CHILD"
