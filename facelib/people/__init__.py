"""People: pure grouping rules (:mod:`.grouping`), their tables (:mod:`.store`), the service the
Collection hands out (:mod:`.service`) and scoring against labels (:mod:`.evaluate`)."""

from .service import People, Person

__all__ = ["People", "Person"]
