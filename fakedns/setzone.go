package fakedns

// SetZone adds z, or replaces the zone of the same name, in one step:
// every query sees either the old zone or the new one, never a missing or
// half-written zone, as a whole zone file reloaded would be. z is checked
// as AddZone checks it; when a record is bad nothing changes. Faults are
// not part of a zone and are left as they are. It reports whether the
// zone was added (rather than replaced).
func (s *Server) SetZone(z Zone) (added bool, err error) {
	zd, err := newZoneData(z, s.loopbackOnly)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	_, replaced := s.zones[zd.name]
	s.zones[zd.name] = zd
	s.mu.Unlock()
	if replaced {
		s.control("set zone " + zd.name)
	} else {
		s.control("add zone " + zd.name)
	}
	return !replaced, nil
}
