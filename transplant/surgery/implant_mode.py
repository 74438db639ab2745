"""Where an organ goes in its recipient (`surgery.organ.implant`): an option a method's schema
names too, so it lives apart from the torch code."""

from transplant.choice import Choice


class ImplantMode(Choice):
    replace = "replace"  # the organ takes the place of as many recipient layers
    insert = "insert"  # the organ is added before `position`: the model grows deeper
