"""Wiring of the statistical detectors to the warehouse: the ``analyze`` stage.

``config`` says which rollup series are analysed and how (window, normalisation, detectors);
``detect`` runs the pure detectors of :mod:`ecoperf_core.stats` over whole fleets (numpy, no I/O);
``store`` reads series and the incremental state and writes detections in one transaction;
``runner`` ties them together for the flow, the CLI and the service; ``canary`` and ``slo`` run
the canary judge and the SLO math on warehouse data.
"""
