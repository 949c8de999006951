package nemesis

import "sync"

// held keeps the heal function a backend returned when a fault started
// through one of its abilities (protocol errors, slowed requests), so that
// Heal can call it once.
type held struct {
	mu   sync.Mutex
	heal func()
}

func (h *held) hold(heal func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.heal = heal
}

// release calls the held heal function, if any, once.
func (h *held) release() {
	h.mu.Lock()
	heal := h.heal
	h.heal = nil
	h.mu.Unlock()
	if heal != nil {
		heal()
	}
}
