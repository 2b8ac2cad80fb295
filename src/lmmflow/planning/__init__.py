"""Planning the next study: power analysis by simulation (:func:`lmmflow.power`)."""
