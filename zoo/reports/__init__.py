"""Reports: what writes files for people (training curves, piano rolls and MIDI files, stroke
sheets, sample texts, reconstructions and homotopies, weight draws), from figures and draws that
zoo.evaluation computes."""
